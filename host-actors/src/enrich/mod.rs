//! Host context added to events: user and group names now, containers and Kubernetes next.

pub mod users;
