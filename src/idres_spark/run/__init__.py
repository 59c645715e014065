"""The run shell: one job end to end, writing and publishing, the report and the demo."""
