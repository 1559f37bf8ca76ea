"""The shapes of secrets the redactor masks (policy/redaction.py): well-known credential
formats by kind, and values whose key says they are secret.

Every pattern here runs over every text opsroom stores or posts that might hold one, much
of it typed by anybody in chat or printed by a job: no pattern may take more than linear
time on any input. A prefix repeated inside a repetition (``(?:[a-z0-9]+[_-])*token``) is
quadratic on ``a-a-a-…`` and froze the event loop for 75 s on 64 KB of it; a key's prefix is
never matched here (the match starts at the secret word, and the key is kept anyway).
Each pattern also has a fixed piece of text (policy/prefilter.py), so a text without one
is never searched.
"""

from __future__ import annotations

import re

_PEM_BEGIN = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"

# Well-known credential shapes, by kind. Each replaces its whole match.
TOKEN_KINDS: tuple[tuple[str, str], ...] = (
    # PEM / OpenSSH / PGP private keys, also inside JSON strings (``\n`` escapes) such as a
    # GCP service-account key file. A block cut off before its END line is masked to the end.
    ("private key", _PEM_BEGIN + r"[\s\S]*?(?:" + _PEM_END + r"|\Z)"),
    ("PGP private key", r"-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?(?:-----END PGP PRIVATE KEY BLOCK-----|\Z)"),
    ("AWS access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
    ("AWS secret access key", r"(?i)aws_?secret_?access_?key[\"']?\s*[=:]\s*[\"']?[A-Za-z0-9/+=]{30,}"),
    ("AWS session token", r"(?i)aws_?session_?token[\"']?\s*[=:]\s*[\"']?[A-Za-z0-9/+=]{30,}"),
    # CreateAccessKey's answer as botocore logs or reprs it: XML, JSON or a Python dict
    # (integrations/cloud never prints it; this is the net under that).
    (
        "AWS secret access key in an API answer",
        r"SecretAccessKey(?:\\?[\"'])?\s*(?:[:=]\s*(?:\\?[\"'])?|>)[A-Za-z0-9/+=]{40}",
    ),
    ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("Google OAuth token", r"\bya29\.[0-9A-Za-z_-]{20,}"),
    ("Google OAuth client secret", r"\bGOCSPX-[0-9A-Za-z_-]{20,}"),
    (
        "Azure storage / service bus key",
        r"(?i)(?:AccountKey|SharedAccessKey|SharedAccessSignature)=[A-Za-z0-9+/%=]{20,}",
    ),
    ("Azure SAS signature", r"(?i)(?<=[?&])sig=[A-Za-z0-9%+/=]{20,}"),
    ("Azure client secret", r"\b[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}"),
    ("Slack token", r"\bxox[a-z]-[A-Za-z0-9-]{10,}"),
    ("Slack app-level token", r"\bxapp-\d-[A-Za-z0-9-]{10,}"),
    ("Slack webhook URL", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,}"),
    (
        "Discord / Teams webhook URL",
        r"https://(?:discord(?:app)?\.com/api/webhooks|[a-z0-9.-]+\.webhook\.office\.com)/[A-Za-z0-9/@_.-]{20,}",
    ),
    ("GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    ("GitHub fine-grained token", r"\bgithub_pat_[A-Za-z0-9_]{40,}"),
    ("GitLab token", r"\bgl(?:pat|ptt|dt|rt|cbt|oas|soat|ft|imt|agent)-[A-Za-z0-9_-]{20,}"),
    ("GitLab runner token", r"\bGR1348941[A-Za-z0-9_-]{20,}"),
    ("JSON Web Token", r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("bearer header", r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{12,}=*"),
    ("basic auth header", r"(?i)\bbasic\s+[A-Za-z0-9+/]{12,}={0,2}"),
    ("password in a URL", r"(?<=://)[^/\s:@]*:[^/\s@]+(?=@)"),  # also redis://:pass@host
    ("Stripe key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("Stripe webhook secret", r"\bwhsec_[A-Za-z0-9]{24,}"),
    ("OpenAI / Anthropic key", r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"),
    ("SendGrid key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("Twilio key", r"\bSK[0-9a-f]{32}\b"),
    ("Mailgun key", r"\bkey-[0-9a-f]{32}\b"),
    ("npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("PyPI token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
    ("HashiCorp Vault token", r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}"),
    ("DigitalOcean token", r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    ("Shopify token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    ("Telegram bot token", r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b"),
    ("Datadog / generic hex API key", r"(?i)(?:dd|datadog)_?(?:api|app)_?key[\"']?\s*[=:]\s*[\"']?[a-f0-9]{32,40}"),
    ("Docker Hub token", r"\bdckr_(?:pat|oat)_[A-Za-z0-9_-]{20,}"),
    ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
    ("Grafana token", r"\b(?:glc_[A-Za-z0-9+/_-]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})"),
    ("Atlassian / Bitbucket token", r"\b(?:ATATT3|ATCTT3|ATBB)[A-Za-z0-9_=.-]{30,}"),
    ("New Relic key", r"\bNR(?:AK|II|JS|AA|RA|SP)-[A-Za-z0-9]{20,}"),
    ("Square token", r"\bsq0(?:atp|csp)-[0-9A-Za-z_-]{22,}"),
    ("Linear key", r"\blin_(?:api|oauth)_[A-Za-z0-9]{32,}"),
    ("Databricks token", r"\bdapi[a-f0-9]{32}(?:-\d)?\b"),
    ("Postman key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b"),
    ("Sentry token", r"\bsntry[su]_[A-Za-z0-9+/=_-]{30,}"),
    ("Pulumi token", r"\bpul-[a-f0-9]{40}\b"),
    ("Terraform Cloud token", r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,}"),
    ("Doppler token", r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}"),
    ("Netlify / Fly.io / Supabase token", r"\b(?:nfp_[A-Za-z0-9]{36}|fo1_[A-Za-z0-9_-]{39,}|sbp_[a-f0-9]{40})"),
    ("age secret key", r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b"),
    ("PlanetScale token", r"\bpscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,}"),
    (
        "RubyGems / Buildkite / CircleCI token",
        r"\b(?:rubygems_[a-f0-9]{48}|bkua_[a-f0-9]{40}|CCIPAT_[A-Za-z0-9_]{40,})",
    ),
    ("AI platform key", r"\b(?:gsk_[A-Za-z0-9]{40,}|r8_[A-Za-z0-9]{37}|pplx-[A-Za-z0-9]{40,}|xai-[A-Za-z0-9]{60,})"),
    ("Brevo key", r"\bx(?:keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16}\b"),
    ("Notion token", r"\b(?:ntn_[A-Za-z0-9]{40,}|secret_[A-Za-z0-9]{43}\b)"),
    ("Figma token", r"\bfigd_[A-Za-z0-9_-]{40,}"),
    ("Mapbox secret token", r"\bsk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"),
    ("Firebase Cloud Messaging server key", r"\bAAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{100,}"),
    ("Heroku token", r"\bHRKU-[A-Za-z0-9_-]{40,}"),
    ("Dynatrace token", r"\bdt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}\b"),
    ("Airtable token", r"\bpat[A-Za-z0-9]{14}\.[a-f0-9]{64}\b"),
    ("Alibaba / Tencent cloud key id", r"\b(?:LTAI[A-Za-z0-9]{12,20}|AKID[A-Za-z0-9]{32})\b"),
    ("Mailchimp key", r"\b[0-9a-f]{32}-us\d{1,2}\b"),
)
TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for _, p in TOKEN_KINDS)

# Words that make a key secret, also glued to what comes before them in any case
# (``PGPASSWORD``, ``clientSecret``, ``accessToken``, ``X-Api-Key``, ``private_key_id``).
_KEY_WORDS = (
    r"(?:password|passwd|passphrase|secret|token|credentials?|api[_-]?key|access[_-]?key|secret[_-]?key"
    r"|private[_-]?key(?:[_-]?id)?|signing[_-]?key|encryption[_-]?key|master[_-]?key|session[_-]?key)"
)
# Short words that do only when they stand apart (``DB_PASS``, ``pwd=``, not ``bypass``).
_SHORT_WORDS = r"(?:pass|pwd)"
_APART = r"(?<![a-z0-9])"
_SEPARATOR = r"(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?"
_NOT_A_VALUE = r"(?!\[REDACTED\]|(?:true|false|null|none|yes|no)\b)"
_VALUE = _NOT_A_VALUE + r"[^\s\"',;&]{4,}"

# Each keeps its group 1 (the key and separator) and masks the rest of the match.
KEYED_SECRETS: tuple[re.Pattern[str], ...] = tuple(
    re.compile("(?i)" + p)
    for p in (
        # a quoted value is masked to its closing quote, spaces and the other quote mark and
        # all: password: "a b c", passphrase: "it's here" (each character is looked at once:
        # a start's scan ends at the next quote of its kind, which is where the next one starts)
        rf"((?:{_KEY_WORDS}|{_APART}{_SHORT_WORDS})(?:\\?[\"'])?\s*[:=]\s*\\?([\"'])){_NOT_A_VALUE}"
        rf"(?:(?!\\?\2)[^\n]){{4,}}?(?=\\?\2)",
        # key=value, key: value, "key": "value", Password=…; in a connection string
        rf"({_KEY_WORDS}{_SEPARATOR}){_VALUE}",
        rf"({_APART}{_SHORT_WORDS}{_SEPARATOR}){_VALUE}",
        # a command-line flag and its value: --password hunter2, --db-pass x (not --password-stdin)
        rf"((?<![\w-])--?(?:[a-z0-9_-]*?{_KEY_WORDS}|(?:[a-z0-9_-]*[_-])?{_SHORT_WORDS})\s+)(?!-){_VALUE}",
        # an XML element: <password>…</password>, <ClientSecret>…
        rf"(<(?:[a-z0-9_.:-]*?{_KEY_WORDS}|(?:[a-z0-9_.:-]*[_.:-])?{_SHORT_WORDS})>)(?!\[REDACTED\])[^<]{{4,}}",
        # an Authorization header with any scheme (Token, Digest, ApiKey…) or none
        r"(\b(?:proxy-)?authorization(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?)(?!\[REDACTED\])"
        r"(?:[a-z][a-z0-9._-]*\s+[^\s\"',;]{6,}|[^\s\"',;]{16,})",
    )
)

# Where a multi-line secret begins and ends, for output that arrives in pieces.
BLOCK_BEGIN = re.compile(_PEM_BEGIN + r"|-----BEGIN PGP PRIVATE KEY BLOCK-----")
BLOCK_END = re.compile(_PEM_END + r"|-----END PGP PRIVATE KEY BLOCK-----")
