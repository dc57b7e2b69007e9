//! The command line users rely on: help, exit codes, one duration syntax, refusals that name
//! the culprit, suggestions for typos, version, completions and the man page — through the real
//! `rig` binary.
