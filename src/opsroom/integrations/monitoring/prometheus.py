"""Prometheus HTTP API: instant queries and a small range for a sparkline. Read-only by
construction: only ``/api/v1/query`` and ``/api/v1/query_range`` are ever called."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import urlsplit

from opsroom.errors import IntegrationError

if TYPE_CHECKING:
    import httpx

SPARK = "▁▂▃▄▅▆▇█"
MAX_QUERY = 2000


class PrometheusError(IntegrationError):
    """Prometheus could not be reached or refused the query."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    value: float | None  # the instant value
    points: tuple[float, ...] = ()  # recent values for the sparkline


def sparkline(values: Sequence[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = high - low
    out = []
    for v in values:
        if not math.isfinite(v):
            out.append(" ")
        elif span == 0:
            out.append(SPARK[len(SPARK) // 2])
        else:
            out.append(SPARK[min(len(SPARK) - 1, int((v - low) / span * (len(SPARK) - 1) + 0.5))])
    return "".join(out)


def check_query(query: str) -> str:
    query = query.strip()
    if not query:
        raise PrometheusError("give a PromQL expression, e.g. /query up")
    if len(query) > MAX_QUERY:
        raise PrometheusError(f"the query is longer than {MAX_QUERY} characters")
    if any(ord(c) < 32 and c not in "\t" for c in query):
        raise PrometheusError("the query contains control characters")
    return query


class PrometheusClient:
    def __init__(self, base_url: str, *, http: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PrometheusError(f"{base_url!r} is not an http(s) Prometheus URL")
        self.base_url = base_url.rstrip("/")
        self._http = http
        self._timeout = timeout

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        import httpx  # on the first query: the alert commands load this module at start

        client = self._http or httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await client.get(self.base_url + path, params=params, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise PrometheusError(f"Prometheus is unreachable ({type(exc).__name__})") from None
        finally:
            if self._http is None:
                await client.aclose()
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(f"Prometheus answered HTTP {response.status_code} without JSON") from None
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus: {str(body.get('error', 'query failed'))[:300]}")
        return body.get("data", {})

    async def query(
        self, query: str, *, at: dt.datetime | None = None, spark_minutes: int = 30, max_series: int = 10
    ) -> tuple[str, list[Series]]:
        """(result type, series) — scalars/strings come back as one series without labels."""
        query = check_query(query)
        params = {"query": query}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        data = await self._get("/api/v1/query", params)
        kind = data.get("resultType", "")
        result = data.get("result")
        if kind in ("scalar", "string"):
            return kind, [Series({}, _num(result[1]) if isinstance(result, list) else None)]
        series: list[Series] = []
        for item in (result or [])[:max_series]:
            value = item.get("value") or (item.get("values") or [[0, "NaN"]])[-1]
            series.append(Series(dict(item.get("metric", {})), _num(value[1])))
        if kind == "vector" and series and spark_minutes > 0:
            end = at or dt.datetime.now(dt.UTC)
            start = end - dt.timedelta(minutes=spark_minutes)
            try:
                ranged = await self._get(
                    "/api/v1/query_range",
                    {
                        "query": query,
                        "start": f"{start.timestamp():.3f}",
                        "end": f"{end.timestamp():.3f}",
                        "step": f"{max(1, spark_minutes * 60 // 30)}",
                    },
                )
            except PrometheusError:
                return kind, series
            points = {
                _key(r.get("metric", {})): tuple(_num(v[1]) for v in r.get("values", []))
                for r in ranged.get("result", [])
            }
            series = [
                Series(s.labels, s.value, tuple(p for p in points.get(_key(s.labels), ()) if p is not None))
                for s in series
            ]
        return kind, series


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
