//! Built-in informers (placeholder).
