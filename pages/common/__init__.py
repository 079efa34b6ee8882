"""The Streamlit side of the dashboard: page helpers that need streamlit (the engine, `pexxero`, never does)."""
