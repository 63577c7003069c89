//! mesa's domain: tickets, their lifecycle and SLA clocks, the business calendar, the policy
//! host that runs the contract's Rhai scripts, intake parsing, outbound mail composition and
//! the services built on the ports. No AWS, SQLite or HTTP here: adapters live in their own
//! crates and reach the domain through [`ports`].

pub mod calendar;
pub mod desk;
pub mod intake;
pub mod lifecycle;
pub mod messages;
pub mod model;
pub mod outbox;
pub mod policy;
pub mod ports;
pub mod replay;
pub mod report;
pub mod sla;
pub mod stats;
pub mod telemetry;
pub mod ticket;
pub mod tokens;
pub mod types;

pub use calendar::{BusinessCalendar, CalendarError, WeeklyHours};
pub use policy::{Bundle, LiveRules, Policy, PolicyError, RulesVersion};
pub use sla::{ClockState, MilestoneDef, MilestoneStatus, Target};
pub use ticket::{ClockSignal, Severity, TicketFacts};
