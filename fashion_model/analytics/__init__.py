"""Stage report: shipped reports, charts, and each nightly run compared with the previous one."""
