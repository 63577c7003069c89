//! Generates a month of tickets on a data directory, for `mesa report`, `mesa stats` and
//! the workspace to show:
//!
//! ```sh
//! cargo run -p mesa-tests --bin generate-month -- --data /tmp/mes --month 2026-10 [--tickets 300] [--seed 7]
//! cargo run -p mesa-cli -- report --data /tmp/mes --month 2026-10 --customer norte.mx --out informe.html
//! ```
//!
//! Steps later than now, or than ten days after the month, are left undone.

use std::path::PathBuf;

use chrono::{Duration, NaiveDate, Utc};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut data = None;
    let mut month = None;
    let mut tickets = 300usize;
    let mut seed = 7u64;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--data", Some(v)) => data = Some(PathBuf::from(v)),
            ("--month", Some(v)) => month = Some(v),
            ("--tickets", Some(v)) if v.parse::<usize>().is_ok() => tickets = v.parse().unwrap(),
            ("--seed", Some(v)) if v.parse::<u64>().is_ok() => seed = v.parse().unwrap(),
            (other, _) => {
                eprintln!(
                    "unknown or incomplete argument {other}\nusage: generate-month --data DIR --month YYYY-MM [--tickets N] [--seed N]"
                );
                return std::process::ExitCode::from(2);
            }
        }
    }
    let (Some(data), Some(month)) = (data, month) else {
        eprintln!("usage: generate-month --data DIR --month YYYY-MM [--tickets N] [--seed N]");
        return std::process::ExitCode::from(2);
    };
    let Some(first) = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok() else {
        eprintln!("--month {month} is not YYYY-MM");
        return std::process::ExitCode::from(2);
    };
    let horizon = (first + Duration::days(41))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .min(Utc::now());
    match mesa_tests::generate::generate_month(&data, &month, tickets, seed, horizon).await {
        Ok(g) => {
            println!(
                "{} tickets, {} steps, in {}",
                g.tickets,
                g.steps,
                data.display()
            );
            for r in &g.refused {
                eprintln!("refused: {r}");
            }
            if g.refused.is_empty() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
