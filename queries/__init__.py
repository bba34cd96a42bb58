"""Data queries: a monitor asks a site about a field of a record; the site answers; the monitor
closes (or reopens) it. Automatic checks open queries of their own (``queries.checks``)."""
