//! The help desk's services in-process, on in-memory adapters and the shipped rules: every
//! staff action, both intake channels, delivery, the sweep and the change loop, each test
//! named for the behaviour a customer or a support lead relies on. They run in milliseconds;
//! the end-to-end tests through the binary and the emulator tests stay the top layer.

mod corpus;
mod delivery;
mod email;
mod form;
mod harness;
mod incidents;
mod people;
mod rules_fallback;
mod staff;
mod sweep;
