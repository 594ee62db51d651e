"""An app that fails on purpose, run with the project's .streamlit/config.toml to see what a student is shown."""

raise RuntimeError("secret-detail-7f3a: the database password is hunter2")
