//! mesa's domain: tickets, their SLA clocks, the business calendar and the policy host
//! that runs the contract's Rhai scripts. No AWS, SQLite or HTTP here: adapters live in
//! their own crates and reach the domain through its ports.

pub mod calendar;
pub mod policy;
pub mod sla;
pub mod ticket;

pub use calendar::{BusinessCalendar, CalendarError, WeeklyHours};
pub use policy::{Bundle, LiveRules, Policy, PolicyError, RulesVersion};
pub use sla::{ClockState, MilestoneDef, MilestoneStatus, Target};
pub use ticket::{ClockSignal, Severity, TicketFacts};
