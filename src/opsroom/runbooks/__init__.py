"""Runbooks: Markdown files whose steps are manual checks and opsroom commands, followed in
chat one checklist card at a time, every command through the normal pipeline."""
