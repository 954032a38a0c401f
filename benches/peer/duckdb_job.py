"""The DuckDB peer of the e2e benchmark: trueup's two standard rules as one batch SQL job.

Usage: duckdb_job.py PAYMENTS ENTRIES CURRENCIES_CSV MATCH_ACCOUNTS GRACE_MS TICK_MS

Reads both JSON Lines files, keeps the lines trueup accepts (the same checks: required
non-empty string ids, known type and direction, ISO 4217 currency, a positive plain decimal
amount within the currency's minor units and 15 integer digits, an RFC 3339 time), absorbs
identical redeliveries, holds out ids with conflicting versions, and computes `payment_ledger`
and `journal_balance` with exact DECIMAL sums, aging every group against the largest event
time read, as a batch run of trueup does. Prints the number of groups per rule and status as
one JSON object. (Amounts given as JSON numbers, and unknown fields, which trueup also accepts,
are not in the generated files; this job reads the first as text and ignores the second.)
"""

import json
import sys

import duckdb

PAYMENTS, ENTRIES, CURRENCIES, ACCOUNTS, GRACE_MS, TICK_MS = sys.argv[1:7]
GRACE_MS, TICK_MS = int(GRACE_MS), int(TICK_MS)


def checked(path, fields, optional, where):
    """The lines of `path` trueup accepts, as columns (all read as text, then checked)."""
    columns = {f: "VARCHAR" for f in fields + optional + ["amount", "currency"]}
    required = " AND ".join(f"coalesce({f}, '') <> ''" for f in fields)
    at = fields[-1]
    return f"""
    SELECT * EXCLUDE (amount, {at}, scale, code), amount::DECIMAL(38, 4) AS amount,
           epoch_ms({at}::TIMESTAMPTZ) AS at_ms
    FROM read_json('{path}', format = 'newline_delimited', columns = {columns},
                   ignore_errors = true) JOIN ccy ON code = currency
    WHERE {required} AND {where}
      AND regexp_full_match(amount, '[0-9]+(\\.[0-9]+)?')
      AND NOT regexp_full_match(amount, '[0.]+')
      AND length(ltrim(split_part(amount, '.', 1), '0')) <= 15
      AND length(CASE WHEN contains(amount, '.') THEN split_part(amount, '.', 2) ELSE '' END) <= scale
      AND substr({at}, 11, 1) IN ('T', 't', ' ')
      AND try_cast({at} AS TIMESTAMPTZ) IS NOT NULL
      AND epoch_ms(try_cast({at} AS TIMESTAMPTZ)) >= 0
    """


db = duckdb.connect()
db.execute(f"CREATE TABLE ccy AS SELECT * FROM read_csv('{CURRENCIES}', header=true, "
           "columns={'code': 'VARCHAR', 'scale': 'INTEGER'})")
db.execute("CREATE TABLE payments AS " + checked(
    PAYMENTS, ["event_id", "payment_id", "type", "occurred_at"], ["merchant_id"],
    "type IN ('capture', 'refund', 'chargeback', 'chargeback_reversal')"))
db.execute("CREATE TABLE entries AS " + checked(
    ENTRIES, ["entry_id", "journal_id", "account", "direction", "booked_at"], ["payment_id"],
    "direction IN ('debit', 'credit')"))

counts = db.execute(f"""
WITH
horizon AS (
    SELECT ceil(max(at_ms) / {TICK_MS}) AS tick FROM (
        SELECT at_ms FROM payments UNION ALL SELECT at_ms FROM entries)),
p_versions AS (SELECT DISTINCT * FROM payments),
e_versions AS (SELECT DISTINCT * FROM entries),
p_unique AS (SELECT * FROM p_versions QUALIFY count(*) OVER (PARTITION BY event_id) = 1),
e_unique AS (SELECT * FROM e_versions QUALIFY count(*) OVER (PARTITION BY entry_id) = 1),
conflicts AS (
    SELECT DISTINCT id FROM (
        SELECT event_id AS id FROM p_versions GROUP BY id HAVING count(*) > 1
        UNION ALL
        SELECT entry_id FROM e_versions GROUP BY entry_id HAVING count(*) > 1)),
legs AS (
    SELECT 'payment_ledger' AS rule, payment_id AS key, currency, true AS left_side,
           CASE WHEN type IN ('capture', 'chargeback_reversal') THEN amount ELSE -amount END AS amount,
           at_ms
    FROM p_unique
    UNION ALL
    SELECT 'payment_ledger', payment_id, currency, false,
           CASE WHEN direction = 'debit' THEN amount ELSE -amount END, at_ms
    FROM e_unique WHERE coalesce(payment_id, '') <> '' AND list_contains({ACCOUNTS.split(',')}, account)
    UNION ALL
    SELECT 'journal_balance', journal_id, currency, direction = 'debit', amount, at_ms FROM e_unique),
groups AS (
    SELECT rule, key, currency,
           coalesce(sum(amount) FILTER (WHERE left_side), 0) AS expected,
           coalesce(sum(amount) FILTER (WHERE NOT left_side), 0) AS actual,
           bool_or(left_side) AS has_left, bool_or(NOT left_side) AS has_right,
           max(at_ms) AS last_at
    FROM legs GROUP BY rule, key, currency),
statuses AS (
    SELECT rule,
           CASE WHEN has_left AND has_right AND expected = actual THEN 'matched'
                WHEN ceil((last_at + {GRACE_MS}) / {TICK_MS}) > (SELECT tick FROM horizon) THEN 'pending'
                WHEN rule = 'journal_balance' THEN 'unbalanced_journal'
                WHEN NOT has_right THEN 'missing_ledger'
                WHEN NOT has_left THEN 'missing_payment'
                ELSE 'amount_mismatch' END AS status
    FROM groups
    UNION ALL
    SELECT 'dedupe', 'conflicting_duplicate' FROM conflicts)
SELECT rule, status, count(*) FROM statuses GROUP BY rule, status ORDER BY rule, status
""").fetchall()
print(json.dumps({f"{rule}/{status}": n for rule, status, n in counts}))
