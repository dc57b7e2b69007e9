//! Host context added to events: user and group names, symbolised kernel and user stacks.

pub mod kallsyms;
pub mod sockets;
pub mod stacks;
pub mod symbolizer;
pub mod users;
