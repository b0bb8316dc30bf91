"""Collectors: each produces `WindowSamples` for one window, from a Prometheus server
(`prometheus`) or by scraping the gateways and engines directly (`scrape`)."""
