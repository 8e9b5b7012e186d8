//! Property tests: parsers, loaders and guards never panic on arbitrary input.

mod hostile_input_never_panics;
