//! The two SQL backends behind the audit store, behind one small interface: a SQLite file
//! (the default, no set-up) or a PostgreSQL server. Statements are written once, in the SQL
//! both understand, with `$1`, `$2`, … parameters; values are integers, text or NULL.

use std::io::Write;

use crate::config::paths::sqlite_path;

/// A value in a row or a parameter: the store only uses 64-bit integers and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A BIGINT.
    Int(i64),
    /// A TEXT (never containing NUL, which PostgreSQL refuses: see [`Value::text`]).
    Text(String),
}

impl Value {
    /// A text value; NUL characters (possible in dead letters' raw input) are replaced by
    /// U+FFFD, as PostgreSQL cannot store them — on both backends, so both hold the same.
    pub fn text(text: impl Into<String>) -> Value {
        let text = text.into();
        if text.contains('\0') {
            Value::Text(text.replace('\0', "\u{FFFD}"))
        } else {
            Value::Text(text)
        }
    }

    /// An optional text value.
    pub fn opt_text(text: Option<impl Into<String>>) -> Value {
        text.map_or(Value::Null, Value::text)
    }

    /// The integer, if this is one.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The text, if this is one.
    pub fn str(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The value's kind as the database stored it: `NULL`, `INTEGER`, `TEXT`, or — read
    /// from a store, never written by trueup — `REAL`, `BLOB`, `TEXT with bytes that are not
    /// UTF-8`, or another PostgreSQL type by its name.
    pub fn kind(&self) -> String {
        match self {
            Value::Null => "NULL".into(),
            Value::Int(_) => "INTEGER".into(),
            Value::Text(t) => match t.strip_prefix('\0') {
                None => "TEXT".into(),
                Some(rest) => match rest.split(' ').next().unwrap_or_default() {
                    "text" => "TEXT with bytes that are not UTF-8".into(),
                    kind => kind.to_uppercase(),
                },
            },
        }
    }

    /// The value as the store hashes it: `\N` for NULL, the decimal integer, or the text with
    /// backslash, tab and newline escaped (PostgreSQL's COPY text format).
    pub fn encode(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("\\N"),
            Value::Int(n) => {
                use std::fmt::Write;
                let _ = write!(out, "{n}"); // writing to a String cannot fail
            }
            Value::Text(t) => {
                // runs without a special character are copied whole
                let mut rest = t.as_str();
                while let Some(at) = rest.find(['\\', '\t', '\n', '\r']) {
                    out.push_str(&rest[..at]);
                    out.push_str(match rest.as_bytes()[at] {
                        b'\\' => "\\\\",
                        b'\t' => "\\t",
                        b'\n' => "\\n",
                        _ => "\\r",
                    });
                    rest = &rest[at + 1..];
                }
                out.push_str(rest);
            }
        }
    }
}

/// Appends one row as the store writes it to PostgreSQL's COPY stream and as it hashes it:
/// its [encoded](Value::encode) values joined by tabs, ended by a newline.
pub fn encode_row(values: &[Value], out: &mut String) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        value.encode(out);
    }
    out.push('\n');
}

/// Every object of a SQLite store, with the statement that made it.
const SQLITE_CATALOG: &str =
    "SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name";

/// Everything in the current schema of a PostgreSQL store that can change what a query reads:
/// every column (its type, nullability, default and collation), index, view, trigger and rule,
/// each table's row-level security (enabled, forced) and policies, and every function,
/// aggregate, operator and collation defined in the schema (the functions a view or policy
/// could call).
const POSTGRES_CATALOG: &str = "\
    SELECT 'column' AS kind, CAST(table_name AS TEXT) AS owner, CAST(column_name AS TEXT) || ' ' \
        || CAST(data_type AS TEXT) || ' ' || CAST(is_nullable AS TEXT) || ' ' \
        || COALESCE(CAST(column_default AS TEXT), '') || ' ' \
        || COALESCE(CAST(collation_name AS TEXT), '') AS what \
    FROM information_schema.columns WHERE table_schema = current_schema() \
    UNION ALL SELECT 'row security', CAST(relname AS TEXT), CAST(relrowsecurity AS TEXT) \
        || ' ' || CAST(relforcerowsecurity AS TEXT) \
    FROM pg_class WHERE relnamespace = CAST(current_schema() AS regnamespace) \
        AND relkind IN ('r', 'p') \
    UNION ALL SELECT 'policy', CAST(tablename AS TEXT), CAST(policyname AS TEXT) || ' ' \
        || permissive || ' ' || CAST(roles AS TEXT) || ' ' || cmd || ' ' || COALESCE(qual, '') \
        || ' ' || COALESCE(with_check, '') \
    FROM pg_policies WHERE schemaname = current_schema() \
    UNION ALL SELECT 'function', CAST(proname AS TEXT), CAST(prokind AS TEXT) || ' ' \
        || pg_get_function_identity_arguments(oid) || ' ' \
        || CASE WHEN prokind IN ('f', 'p') THEN pg_get_functiondef(oid) ELSE '' END \
    FROM pg_proc WHERE pronamespace = CAST(current_schema() AS regnamespace) \
    UNION ALL SELECT 'operator', CAST(oprname AS TEXT), CAST(CAST(oprcode AS regproc) AS TEXT) \
    FROM pg_operator WHERE oprnamespace = CAST(current_schema() AS regnamespace) \
    UNION ALL SELECT 'collation', CAST(collname AS TEXT), COALESCE(collcollate, '') \
    FROM pg_collation WHERE collnamespace = CAST(current_schema() AS regnamespace) \
    UNION ALL SELECT 'index', CAST(tablename AS TEXT), CAST(indexname AS TEXT) || ' ' || indexdef \
    FROM pg_indexes WHERE schemaname = current_schema() \
    UNION ALL SELECT 'view', CAST(viewname AS TEXT), definition \
    FROM pg_views WHERE schemaname = current_schema() \
    UNION ALL SELECT 'trigger', CAST(event_object_table AS TEXT), CAST(trigger_name AS TEXT) \
        || ' ' || CAST(action_timing AS TEXT) || ' ' || CAST(event_manipulation AS TEXT) || ' ' \
        || CAST(action_statement AS TEXT) \
    FROM information_schema.triggers WHERE trigger_schema = current_schema() \
    UNION ALL SELECT 'rule', CAST(tablename AS TEXT), CAST(rulename AS TEXT) || ' ' || definition \
    FROM pg_rules WHERE schemaname = current_schema() \
    ORDER BY 1, 2, 3";

/// Stops the query a connection is running, from another thread.
pub enum Canceller {
    /// SQLite's interrupt: the running statement fails at once.
    Sqlite(rusqlite::InterruptHandle),
    /// PostgreSQL's cancel request, sent to the server on a connection of its own.
    Postgres(postgres::CancelToken),
}

impl Canceller {
    /// Asks the connection to stop the query it is running (nothing happens if none is).
    pub fn cancel(&self) {
        match self {
            Canceller::Sqlite(handle) => handle.interrupt(),
            Canceller::Postgres(token) => {
                if let Err(e) = token.cancel_query(postgres::NoTls) {
                    tracing::debug!(error = %e, "cancelling a query");
                }
            }
        }
    }
}

/// Rows to append to one table.
pub struct Rows {
    /// The table.
    pub table: &'static str,
    /// Its columns, in the order of each row's values.
    pub columns: &'static [&'static str],
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL said no.
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    /// Writing a COPY stream failed.
    #[error("postgres copy: {0}")]
    Copy(#[from] std::io::Error),
    /// The store's URL is not one trueup understands.
    #[error("unsupported store URL {0:?}: use sqlite:PATH, a path, or postgres://…")]
    Url(String),
}

/// An open connection to one of the backends.
pub enum Db {
    /// A SQLite database file.
    Sqlite(rusqlite::Connection),
    /// A PostgreSQL server.
    Postgres(Box<postgres::Client>),
}

impl Db {
    /// Opens `url`: `postgres://…` / `postgresql://…` for PostgreSQL; `sqlite:PATH` or a plain
    /// path for SQLite (created if missing). `read_only` refuses every write at the backend.
    pub fn open(url: &str, read_only: bool) -> Result<Db, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut client = postgres::Client::connect(url, postgres::NoTls)?;
            client.batch_execute("SET client_min_messages = warning")?;
            if read_only {
                client.batch_execute("SET default_transaction_read_only = on")?;
            }
            return Ok(Db::Postgres(Box::new(client)));
        }
        let Some(path) = sqlite_path(url) else {
            return Err(DbError::Url(url.to_string()));
        };
        use rusqlite::OpenFlags;
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        };
        // a connection is used by one thread at a time (it moves, never shares): no mutexes
        let flags = flags | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        if !read_only {
            // the largest pages SQLite has (a new file only: an existing one keeps its own):
            // a store is appended to in bulk, and 64 KiB pages cut the pages, B-tree splits and
            // WAL frames per row against 4 KiB ones (docs/benchmarks.md, the audit store)
            conn.pragma_update(None, "page_size", 65_536)?;
            // WAL: readers (query, serve, verify) never block the writer, nor it them
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            // 256 MiB of pages: appends keep more of their random-keyed index pages (record ids,
            // result keys) in memory — 8 % less wall time than 64 MiB at 1M payments
            // (docs/benchmarks.md, the audit store)
            conn.pragma_update(None, "cache_size", -262_144)?;
        }
        Ok(Db::Sqlite(conn))
    }

    /// Whether `url` may name an existing store: false for a SQLite file that is not there.
    pub fn exists(url: &str) -> bool {
        match sqlite_path(url) {
            Some(path) => std::path::Path::new(path).exists(),
            None => true,
        }
    }

    /// Whether the database has a table `name`.
    pub fn has_table(&mut self, name: &str) -> Result<bool, DbError> {
        let sql = match self {
            Db::Sqlite(_) => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
            Db::Postgres(_) => {
                "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_tables WHERE tablename = $1"
            }
        };
        let rows = self.query(sql, &[Value::text(name)])?;
        Ok(rows.first().and_then(|r| r[0].int()).unwrap_or(0) > 0)
    }

    /// The columns of table `name`, in any order (none if there is no such table).
    pub fn columns(&mut self, name: &str) -> Result<Vec<String>, DbError> {
        let sql = match self {
            Db::Sqlite(_) => "SELECT name FROM pragma_table_info($1)",
            Db::Postgres(_) => {
                "SELECT CAST(attname AS TEXT) FROM pg_attribute \
                 WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped"
            }
        };
        let rows = self.query(sql, &[Value::text(name)])?;
        Ok((rows.iter())
            .filter_map(|r| r[0].str().map(str::to_string))
            .collect())
    }

    /// The schema as the database describes it — tables' columns, indexes, views, triggers and
    /// rules, and on PostgreSQL row-level security, policies, functions, operators and
    /// collations ([`POSTGRES_CATALOG`]) — one line per object, in a fixed order: recorded when trueup creates a store, and
    /// compared by `verify`.
    pub fn catalog(&mut self) -> Result<String, DbError> {
        let sql = match self {
            Db::Sqlite(_) => SQLITE_CATALOG,
            Db::Postgres(_) => POSTGRES_CATALOG,
        };
        let mut out = String::new();
        for row in self.query(sql, &[])? {
            encode_row(&row, &mut out);
        }
        Ok(out)
    }

    /// What stops this connection's running query from another thread.
    pub fn canceller(&self) -> Canceller {
        match self {
            Db::Sqlite(c) => Canceller::Sqlite(c.get_interrupt_handle()),
            Db::Postgres(c) => Canceller::Postgres(c.cancel_token()),
        }
    }

    /// Which backend this is: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Runs statements without parameters or results (the schema).
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Db::Sqlite(c) => c.execute_batch(sql)?,
            Db::Postgres(c) => c.batch_execute(sql)?,
        }
        Ok(())
    }

    /// Runs a query with `$n` parameters and returns every row.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, DbError> {
        match self {
            Db::Sqlite(c) => {
                let mut statement = c.prepare(&sqlite_sql(sql))?;
                let columns = statement.column_count();
                let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut values = Vec::with_capacity(columns);
                    for i in 0..columns {
                        values.push(sqlite_value(row.get_ref(i)?));
                    }
                    out.push(values);
                }
                Ok(out)
            }
            Db::Postgres(c) => {
                let boxed = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    boxed.iter().map(|b| b.as_ref()).collect();
                let rows = c.query(sql, &refs)?;
                Ok(rows.iter().map(pg_row).collect::<Result<_, _>>()?)
            }
        }
    }

    /// Appends `tables`, then the rows `last` makes once they are written, in one
    /// transaction: all of them or, on any error, none.
    pub fn append(&mut self, tables: &[Rows], last: impl FnOnce() -> Rows) -> Result<(), DbError> {
        match self {
            Db::Sqlite(c) => {
                let tx = c.transaction()?;
                for t in tables.iter().chain([&last()]) {
                    let marks: Vec<String> =
                        (1..=t.columns.len()).map(|i| format!("?{i}")).collect();
                    let sql = format!(
                        "INSERT INTO {} ({}) VALUES ({})",
                        t.table,
                        t.columns.join(", "),
                        marks.join(", ")
                    );
                    let mut statement = tx.prepare_cached(&sql)?;
                    for row in &t.rows {
                        statement.execute(rusqlite::params_from_iter(row.iter()))?;
                    }
                }
                tx.commit()?;
            }
            Db::Postgres(c) => {
                let mut tx = c.transaction()?;
                let mut copy = |t: &Rows| -> Result<(), DbError> {
                    let sql = format!("COPY {} ({}) FROM STDIN", t.table, t.columns.join(", "));
                    let mut writer = tx.copy_in(&sql)?;
                    let mut line = String::new();
                    for row in &t.rows {
                        line.clear();
                        encode_row(row, &mut line);
                        writer.write_all(line.as_bytes())?;
                    }
                    writer.finish()?;
                    Ok(())
                };
                for t in tables.iter().filter(|t| !t.rows.is_empty()) {
                    copy(t)?;
                }
                copy(&last())?;
                tx.commit()?;
            }
        }
        Ok(())
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

/// A SQLite value read with its storage class and its bytes as stored: an INTEGER, NULL, or
/// TEXT of valid UTF-8 is itself; anything trueup never writes — a REAL, a BLOB,
/// or TEXT whose bytes are not UTF-8 (decoding it lossily would read an invalid byte as the
/// U+FFFD trueup may have stored) — reads as text beginning with NUL, which trueup never
/// writes: it neither hashes nor type-checks as any value trueup wrote (see [`Value::kind`]).
fn sqlite_value(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(text) => Value::Text(text.to_string()),
            Err(_) => Value::Text(format!("\0text {}", hex(t))),
        },
        ValueRef::Real(r) => Value::Text(format!("\0real {r}")),
        ValueRef::Blob(b) => Value::Text(format!("\0blob {}", hex(b))),
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Null => Value::Null,
    }
}

/// `$n` parameters as SQLite spells them, `?n`.
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

fn pg_params(params: &[Value]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn postgres::types::ToSql + Sync> {
            match v {
                Value::Null => Box::new(None::<String>),
                Value::Int(n) => Box::new(*n),
                Value::Text(t) => Box::new(t.clone()),
            }
        })
        .collect()
}

fn pg_row(row: &postgres::Row) -> Result<Vec<Value>, postgres::Error> {
    use postgres::types::Type;
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_();
            Ok(if *ty == Type::INT8 {
                row.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int)
            } else if *ty == Type::INT4 {
                row.get::<_, Option<i32>>(i)
                    .map_or(Value::Null, |n| Value::Int(n.into()))
            } else if <String as postgres::types::FromSql>::accepts(ty) {
                row.try_get::<_, Option<String>>(i)?
                    .map_or(Value::Null, Value::Text)
            } else {
                // a type trueup never writes (a column whose type was changed): read as text
                // beginning with NUL, as on SQLite, so it is named and never hashes as text
                row.try_get::<_, Option<Raw>>(i)?
                    .map_or(Value::Null, |Raw(bytes)| {
                        Value::Text(format!("\0{} {}", ty.name(), hex(&bytes)))
                    })
            })
        })
        .collect()
}

/// A PostgreSQL value of any type, as the bytes the server sent.
struct Raw(Vec<u8>);

impl<'a> postgres::types::FromSql<'a> for Raw {
    fn from_sql(
        _: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Raw, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
}

/// `bytes` as lowercase hex digits, two per byte.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
