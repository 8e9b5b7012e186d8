//! Hostile files (FIFOs, devices, directories) in place of configuration, certificates and CRLs.

mod hostile_files_are_refused_by_name;
