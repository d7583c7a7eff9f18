"""Browser tests of the Dagster UI serving the code location (headless Debian Chromium)."""
