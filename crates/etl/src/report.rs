//! The analyst report: every documented view as a table, printed aligned or written as CSV.
//! Each query casts its columns to text, so one renderer serves them all and the numbers
//! appear exactly as `psql` would show them.

use chrono::NaiveDate;
use sqlx::{Column, PgPool, Row};

/// The days a report covers (inclusive) and how many top routes it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub top: i32,
}

/// One view's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Short name, also the CSV file's stem.
    pub name: &'static str,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

const QUERIES: [(&str, &str, &str); 8] = [
    (
        "bookings_per_route_day",
        "Bookings and cancellations per route per day",
        "SELECT route, day::text, bookings::text, cancellations::text
         FROM warehouse.bookings_per_route_day v WHERE v.day BETWEEN $1 AND $2
         ORDER BY v.day, v.route",
    ),
    (
        "load_factor_per_train",
        "Load factor per train",
        "SELECT train_id::text, route, departure_time::text, capacity::text,
                seats_booked::text, seats_left::text, load_factor::text, removed::text
         FROM warehouse.load_factor_per_train v ORDER BY v.train_id",
    ),
    (
        "cancellation_rate_per_route",
        "Cancellation rate per route",
        "SELECT route, bookings::text, cancelled_by_traveller::text,
                cancelled_by_removal::text, cancellation_rate::text
         FROM warehouse.cancellation_rate_per_route ORDER BY route",
    ),
    (
        "lead_time_distribution",
        "Lead time between booking and departure",
        "SELECT bucket, bookings::text, share::text
         FROM warehouse.lead_time_distribution ORDER BY bucket_order",
    ),
    (
        "top_routes",
        "Top routes by bookings made",
        "SELECT rank::text, route, bookings::text, cancellations::text, net_bookings::text
         FROM warehouse.top_routes($1, $2, $3)",
    ),
    (
        "revenue_per_route_day",
        "Revenue per route per day (minor units, per currency)",
        "SELECT route, day::text, currency, bookings::text, revenue::text,
                cancelled_revenue::text
         FROM warehouse.revenue_per_route_day v WHERE v.day BETWEEN $1 AND $2
         ORDER BY v.day, v.route, v.currency",
    ),
    (
        "average_price_per_class",
        "Average price per class (minor units, per currency)",
        "SELECT class, currency, bookings::text, average_price::text
         FROM warehouse.average_price_per_class ORDER BY class, currency",
    ),
    (
        "hold_outcomes",
        "How holds end (share of the holds that have ended)",
        "SELECT outcome, holds::text, share::text
         FROM warehouse.hold_outcomes ORDER BY outcome_order",
    ),
];

/// Runs every report query.
pub async fn report(pool: &PgPool, period: Period) -> Result<Vec<Table>, sqlx::Error> {
    let mut tables = Vec::with_capacity(QUERIES.len());
    for (name, title, sql) in QUERIES {
        let mut query = sqlx::query(sql);
        if sql.contains("$1") {
            query = query.bind(period.from).bind(period.to);
        }
        if sql.contains("$3") {
            query = query.bind(period.top);
        }
        let rows = query.fetch_all(pool).await?;
        let columns = column_names(pool, sql).await?;
        let rows = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        row.try_get::<Option<String>, _>(i)
                            .ok()
                            .flatten()
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        let title = if sql.contains("$1") {
            format!("{title}, {} to {}", period.from, period.to)
        } else {
            title.to_owned()
        };
        tables.push(Table {
            name,
            title,
            columns,
            rows,
        });
    }
    Ok(tables)
}

/// Column names even when the result is empty, from the statement's description.
async fn column_names(pool: &PgPool, sql: &str) -> Result<Vec<String>, sqlx::Error> {
    use sqlx::Executor;
    let described = pool.describe(sql).await?;
    Ok(described
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect())
}

impl Table {
    /// The table as `psql` prints it: a title, a header, a rule, aligned rows, a row count.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!(" {cell:<w$} "))
                .collect::<Vec<_>>()
                .join("|")
                .trim_end()
                .to_owned()
        };
        let mut out = format!("{}\n", self.title);
        out.push_str(&line(&self.columns));
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        out.push_str(&rule.join("+"));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        let count = self.rows.len();
        out.push_str(&format!(
            "({count} row{})\n",
            if count == 1 { "" } else { "s" }
        ));
        out
    }

    /// RFC 4180 CSV with a header row.
    pub fn to_csv(&self) -> String {
        let field = |s: &String| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.clone()
            }
        };
        let mut out = String::new();
        for row in std::iter::once(&self.columns).chain(&self.rows) {
            out.push_str(&row.iter().map(field).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    fn table() -> Table {
        Table {
            name: "t",
            title: "Title".into(),
            columns: vec!["route".into(), "bookings".into()],
            rows: vec![
                vec!["Iasi, \"Cluj\"".into(), "12".into()],
                vec!["Brasov".into(), "3".into()],
            ],
        }
    }

    #[test]
    fn csv_quotes_only_the_fields_that_need_it() {
        assert_eq!(
            table().to_csv(),
            "route,bookings\r\n\"Iasi, \"\"Cluj\"\"\",12\r\nBrasov,3\r\n"
        );
    }

    #[test]
    fn a_rendered_table_aligns_its_columns_and_counts_its_rows() {
        let rendered = table().render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(lines[1], " route        | bookings");
        assert_eq!(lines[2], "--------------+----------");
        assert_eq!(lines[4], " Brasov       | 3");
        assert_eq!(lines[5], "(2 rows)");
    }
}
