//! Operator tools, apart from the serving path: `truststore lint`, `pki`, `explain`,
//! `check --probe`, `import` and `demo`. They reuse the serving code's engines (the verifier, the
//! truststore findings, the pools), never the other way round.

pub mod demo;
pub mod explain;
pub mod export;
pub mod import;
pub mod lint;
pub mod pki;
pub mod probe;
