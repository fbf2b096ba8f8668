/**
 * The PostgreSQL schema, as an ordered list of migrations. A migration is never edited once released: a change
 * is a new entry with the next version. `migrate` applies the missing ones in order, each in its own transaction
 * together with its row in `shoal_migrations`, so a failed step leaves the database at the previous version.
 *
 * Numbers that are milliseconds or bytes are bigint; records whose shape only the services read (upload and
 * object records, segment placements and manifests) are jsonb beside the columns the store filters, orders or
 * locks by.
 */
export interface Migration {
  version: number
  name: string
  sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'accounts, sessions, nodes, delete orders, uploads, objects',
    sql: `
CREATE TABLE accounts (
  id text PRIMARY KEY,
  email text NOT NULL UNIQUE,
  auth_salt text NOT NULL,
  auth_hash text NOT NULL,
  wrapped_master_key text NOT NULL,
  quota bigint NOT NULL,
  used bigint NOT NULL,
  reserved bigint NOT NULL,
  objects bigint NOT NULL,
  created_at bigint NOT NULL
);

CREATE TABLE sessions (
  token_hash text PRIMARY KEY,
  account_id text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE nodes (
  peer_id text PRIMARY KEY,
  last_at bigint NOT NULL,
  record jsonb NOT NULL
);

CREATE TABLE delete_orders (
  node text NOT NULL,
  serial text NOT NULL,
  created_at bigint NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (node, serial)
);
CREATE INDEX delete_orders_queue ON delete_orders (node, created_at, serial);

CREATE TABLE uploads (
  id text PRIMARY KEY,
  owner text NOT NULL REFERENCES accounts (id),
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  record jsonb NOT NULL
);
CREATE INDEX uploads_owner ON uploads (owner, created_at, id);
CREATE INDEX uploads_expires_at ON uploads (expires_at, id);

CREATE TABLE upload_segments (
  upload_id text NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
  idx integer NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (upload_id, idx)
);

CREATE TABLE objects (
  id text PRIMARY KEY,
  owner text NOT NULL REFERENCES accounts (id),
  name_hash text NOT NULL,
  size bigint NOT NULL,
  created_at bigint NOT NULL,
  record jsonb NOT NULL,
  UNIQUE (owner, name_hash)
);

CREATE TABLE object_segments (
  object_id text NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
  idx integer NOT NULL,
  manifest jsonb NOT NULL,
  PRIMARY KEY (object_id, idx)
);
`
  },
  {
    version: 2,
    name: 'node reputations (audits and uptime)',
    sql: `
CREATE TABLE node_reputations (
  peer_id text PRIMARY KEY,
  version integer NOT NULL,
  record jsonb NOT NULL
);
`
  },
  {
    version: 3,
    name: 'shares (web UI share links)',
    sql: `
CREATE TABLE shares (
  id text PRIMARY KEY,
  owner text NOT NULL REFERENCES accounts (id),
  created_at bigint NOT NULL,
  record jsonb NOT NULL
);
CREATE INDEX shares_owner ON shares (owner, created_at DESC, id);
`
  },
  {
    version: 4,
    name: 'plans, API keys, audit log, settlements, storage spans, ledger, invoices, payouts',
    sql: `
ALTER TABLE accounts ADD COLUMN plan text;

CREATE TABLE api_keys (
  hash text PRIMARY KEY,
  id text NOT NULL UNIQUE,
  account_id text NOT NULL REFERENCES accounts (id),
  created_at bigint NOT NULL,
  revoked_at bigint,
  record jsonb NOT NULL
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at, id);

CREATE TABLE audit_log (
  account_id text NOT NULL,
  id text NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (account_id, id)
);

CREATE TABLE settlements (
  serial text PRIMARY KEY,
  node text NOT NULL,
  account text NOT NULL,
  bytes bigint NOT NULL,
  settled_at bigint NOT NULL,
  record jsonb NOT NULL
);
CREATE INDEX settlements_time ON settlements (settled_at, serial);

CREATE TABLE storage_spans (
  object_id text PRIMARY KEY,
  account text NOT NULL,
  from_at bigint NOT NULL,
  to_at bigint,
  record jsonb NOT NULL
);
CREATE INDEX storage_spans_account ON storage_spans (account, from_at);

CREATE TABLE ledger_entries (
  seq bigserial PRIMARY KEY,
  txn text NOT NULL,
  ledger text NOT NULL,
  amount bigint NOT NULL,
  at bigint NOT NULL,
  memo text NOT NULL
);
CREATE INDEX ledger_entries_ledger ON ledger_entries (ledger, seq);

CREATE TABLE invoices (
  account_id text NOT NULL,
  period text NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (account_id, period)
);

CREATE TABLE payouts (
  node text NOT NULL,
  period text NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (node, period)
);
`
  },
  {
    version: 5,
    name: 'rate-limit buckets shared by every tracker',
    sql: `
CREATE TABLE rate_buckets (
  key text PRIMARY KEY,
  tokens double precision NOT NULL,
  at bigint NOT NULL
);
CREATE INDEX rate_buckets_at ON rate_buckets (at);
`
  },
  {
    version: 6,
    name: 'plan changes (prorated invoices)',
    sql: `
CREATE TABLE plan_changes (
  seq bigserial PRIMARY KEY,
  account_id text NOT NULL,
  at bigint NOT NULL,
  from_plan text,
  to_plan text NOT NULL
);
CREATE INDEX plan_changes_account ON plan_changes (account_id, at, seq);
`
  },
  {
    version: 7,
    name: 'leases (one tracker runs audits and repair)',
    sql: `
CREATE TABLE leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  expires_at bigint NOT NULL
);
`
  },
  {
    version: 8,
    name: 'sessions by account (log out everywhere)',
    sql: `
CREATE INDEX sessions_account ON sessions (account_id);
`
  },
  {
    version: 9,
    name: 'piece moves (node payouts follow repairs and exits)',
    sql: `
CREATE TABLE piece_moves (
  seq bigserial PRIMARY KEY,
  object_id text NOT NULL,
  at bigint NOT NULL,
  from_node text,
  to_node text,
  bytes bigint NOT NULL
);
CREATE INDEX piece_moves_object ON piece_moves (object_id, at, seq);
`
  },
  {
    version: 10,
    name: 'moderation: takedowns, suspensions, abuse reports and their log',
    sql: `
CREATE TABLE takedowns (
  id text PRIMARY KEY,
  record jsonb NOT NULL
);
CREATE TABLE suspensions (
  id text PRIMARY KEY,
  record jsonb NOT NULL
);
CREATE TABLE moderation_log (
  id text PRIMARY KEY,
  record jsonb NOT NULL
);
CREATE TABLE abuse_reports (
  id text PRIMARY KEY,
  record jsonb NOT NULL
);
`
  },
  {
    version: 11,
    name: 'account recovery keys (a second wrap of the master key)',
    sql: `
ALTER TABLE accounts ADD COLUMN recovery jsonb;
`
  },
  {
    version: 12,
    name: 'indexes for every lookup (settlements by account and node, listing pages)',
    sql: `
CREATE INDEX settlements_account ON settlements (account, settled_at);
CREATE INDEX settlements_node ON settlements (node, settled_at);
CREATE INDEX objects_owner_name ON objects (owner, name_hash COLLATE "C");
`
  },
  {
    version: 13,
    name: 'sign-ups waiting for their emailed code; receipt keys bound to who asked for grants with them',
    sql: `
CREATE TABLE pending_signups (
  email text PRIMARY KEY,
  expires_at bigint NOT NULL,
  record jsonb NOT NULL
);
CREATE INDEX pending_signups_expires_at ON pending_signups (expires_at);
CREATE TABLE receipt_keys (
  key text PRIMARY KEY,
  holder text NOT NULL,
  bound_at bigint NOT NULL
);
`
  },
  {
    version: 14,
    name: 'file versions: older versions stay in objects, superseded; per-account version policies',
    sql: `
ALTER TABLE objects ADD COLUMN superseded_at bigint;
ALTER TABLE objects DROP CONSTRAINT objects_owner_name_hash_key;
CREATE UNIQUE INDEX objects_current_name ON objects (owner, name_hash) WHERE superseded_at IS NULL;
CREATE INDEX objects_versions ON objects
  (owner COLLATE "C", name_hash COLLATE "C", superseded_at DESC, id COLLATE "C" DESC)
  WHERE superseded_at IS NOT NULL;
CREATE TABLE version_policies (
  account_id text PRIMARY KEY REFERENCES accounts (id),
  policy jsonb NOT NULL
);
`
  },
  {
    version: 15,
    name: "background walks as cursors, the repair queue, a node's spans and moves by index",
    sql: `
CREATE TABLE scan_cursors (
  name text PRIMARY KEY,
  version bigint NOT NULL,
  record jsonb NOT NULL
);
CREATE TABLE repair_queue (
  object_id text NOT NULL,
  idx integer NOT NULL,
  healthy integer NOT NULL,
  queued_at bigint NOT NULL,
  holder text,
  claimed_until bigint,
  PRIMARY KEY (object_id, idx)
);
CREATE INDEX repair_queue_order ON repair_queue (healthy, object_id, idx);
CREATE INDEX storage_spans_nodes ON storage_spans USING gin ((record -> 'nodes'));
CREATE INDEX piece_moves_to ON piece_moves (to_node);
CREATE INDEX piece_moves_from ON piece_moves (from_node);
`
  },
  {
    version: 16,
    name: 'the segment walk in C order by index',
    // listSegments pages by (object_id COLLATE "C", idx); the primary key is in the database's collation
    // (C.UTF-8, en_US...), which cannot serve that order: each page was a scan and sort of every segment
    // (8-13 s at 3M segments, docs/postgres.md). This index makes a page of 1,000 an index range (~8 ms).
    sql: `
CREATE INDEX object_segments_walk ON object_segments (object_id COLLATE "C", idx);
`
  },
  {
    version: 17,
    name: 'commitUpload as one round trip',
    // PgUploads.commitUpload's transaction was ~12 statements, each a round trip (the largest share of the
    // tracker's and the database's CPU per request under load, docs/postgres.md). This function runs the same
    // statements in the same lock order (account, upload, the name's current object) inside the server: one
    // call, one round trip. It answers 'ok' or why it wrote nothing ('upload', 'account', 'name'), which the
    // store turns into the rules' errors. The totals are totalsAfterCommit and the superseded record is
    // superseded() (rules.ts), restated in SQL; the compliance suite holds both stores to the same outcome.
    sql: `
CREATE FUNCTION shoal_commit_upload(
  p_upload text, p_object jsonb, p_replaces text, p_segments jsonb, p_span jsonb, p_deletes jsonb
) RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
  v_owner text;
  v_size bigint;
  v_current text;
  v_current_record jsonb;
  v_at bigint;
BEGIN
  SELECT owner INTO v_owner FROM uploads WHERE id = p_upload;
  IF NOT FOUND THEN RETURN 'upload'; END IF;
  PERFORM 1 FROM accounts WHERE id = v_owner FOR UPDATE;
  IF NOT FOUND THEN RETURN 'account'; END IF;
  -- Re-read under the account's lock: the upload may have been committed or aborted meanwhile.
  SELECT (record->>'size')::bigint INTO v_size FROM uploads WHERE id = p_upload FOR UPDATE;
  IF NOT FOUND THEN RETURN 'upload'; END IF;
  SELECT id, record INTO v_current, v_current_record FROM objects
    WHERE owner = v_owner AND name_hash = p_object->>'nameHash' AND superseded_at IS NULL FOR UPDATE;
  IF v_current IS DISTINCT FROM p_replaces THEN RETURN 'name'; END IF;
  IF v_current IS NOT NULL THEN
    v_at := GREATEST((p_object->>'createdAt')::bigint, (v_current_record->>'createdAt')::bigint + 1);
    UPDATE objects SET superseded_at = v_at, record = v_current_record || jsonb_build_object('supersededAt', v_at)
      WHERE id = v_current;
  END IF;
  INSERT INTO storage_spans (object_id, account, from_at, record)
    VALUES (p_span->>'objectId', p_span->>'account', (p_span->>'from')::bigint, p_span);
  INSERT INTO objects (id, owner, name_hash, size, created_at, record)
    VALUES (p_object->>'id', p_object->>'owner', p_object->>'nameHash', (p_object->>'size')::bigint,
      (p_object->>'createdAt')::bigint, p_object);
  INSERT INTO object_segments (object_id, idx, manifest)
    SELECT p_object->>'id', (e->>'index')::integer, e FROM jsonb_array_elements(p_segments) AS e;
  UPDATE accounts SET used = used + (p_object->>'size')::bigint,
      objects = objects + 1 - (CASE WHEN v_current IS NULL THEN 0 ELSE 1 END), reserved = reserved - v_size
    WHERE id = v_owner;
  DELETE FROM uploads WHERE id = p_upload;
  INSERT INTO delete_orders (node, serial, created_at, record)
    SELECT e->>'node', e->>'serial', (e->>'createdAt')::bigint, e FROM jsonb_array_elements(p_deletes) AS e
    ON CONFLICT (node, serial) DO NOTHING;
  RETURN 'ok';
END
$fn$;
`
  },
  {
    version: 18,
    name: 'segments by the nodes holding their pieces',
    // listSegmentsOnNode: the repair check reads the segments of a node whose state changed (offline,
    // disqualified, leaving, a failed audit) instead of waiting for the walk over every segment. A GIN index of
    // the manifest's node ids (jsonb_path_ops: a hash per node id, not the whole pieces).
    sql: `
CREATE INDEX object_segments_nodes ON object_segments
  USING gin ((jsonb_path_query_array(manifest, '$.pieces[*].node')) jsonb_path_ops);
`
  },
  {
    version: 19,
    name: 'commitUpload finds the object it replaces itself',
    // The tracker read the name's current object before every commit (a round trip) only to name it in
    // shoal_commit_upload's p_replaces. This overload takes p_overwrite instead: with it, whichever object holds
    // the name under the account's lock becomes the older version (none: the name is taken); without it the
    // name must be free or p_replaces. It answers the outcome and the object that held the name (replaced, or
    // the one in the way). The six-argument function stays for trackers of the previous version.
    sql: `
CREATE FUNCTION shoal_commit_upload(
  p_upload text, p_object jsonb, p_replaces text, p_segments jsonb, p_span jsonb, p_deletes jsonb,
  p_overwrite boolean, OUT outcome text, OUT current_object text
) LANGUAGE plpgsql AS $fn$
DECLARE
  v_owner text;
  v_size bigint;
  v_current_record jsonb;
  v_at bigint;
BEGIN
  SELECT owner INTO v_owner FROM uploads WHERE id = p_upload;
  IF NOT FOUND THEN outcome := 'upload'; RETURN; END IF;
  PERFORM 1 FROM accounts WHERE id = v_owner FOR UPDATE;
  IF NOT FOUND THEN outcome := 'account'; RETURN; END IF;
  -- Re-read under the account's lock: the upload may have been committed or aborted meanwhile.
  SELECT (record->>'size')::bigint INTO v_size FROM uploads WHERE id = p_upload FOR UPDATE;
  IF NOT FOUND THEN outcome := 'upload'; RETURN; END IF;
  SELECT id, record INTO current_object, v_current_record FROM objects
    WHERE owner = v_owner AND name_hash = p_object->>'nameHash' AND superseded_at IS NULL FOR UPDATE;
  IF NOT p_overwrite AND current_object IS DISTINCT FROM p_replaces THEN outcome := 'name'; RETURN; END IF;
  IF current_object IS NOT NULL THEN
    v_at := GREATEST((p_object->>'createdAt')::bigint, (v_current_record->>'createdAt')::bigint + 1);
    UPDATE objects SET superseded_at = v_at, record = v_current_record || jsonb_build_object('supersededAt', v_at)
      WHERE id = current_object;
  END IF;
  INSERT INTO storage_spans (object_id, account, from_at, record)
    VALUES (p_span->>'objectId', p_span->>'account', (p_span->>'from')::bigint, p_span);
  INSERT INTO objects (id, owner, name_hash, size, created_at, record)
    VALUES (p_object->>'id', p_object->>'owner', p_object->>'nameHash', (p_object->>'size')::bigint,
      (p_object->>'createdAt')::bigint, p_object);
  INSERT INTO object_segments (object_id, idx, manifest)
    SELECT p_object->>'id', (e->>'index')::integer, e FROM jsonb_array_elements(p_segments) AS e;
  UPDATE accounts SET used = used + (p_object->>'size')::bigint,
      objects = objects + 1 - (CASE WHEN current_object IS NULL THEN 0 ELSE 1 END), reserved = reserved - v_size
    WHERE id = v_owner;
  DELETE FROM uploads WHERE id = p_upload;
  INSERT INTO delete_orders (node, serial, created_at, record)
    SELECT e->>'node', e->>'serial', (e->>'createdAt')::bigint, e FROM jsonb_array_elements(p_deletes) AS e
    ON CONFLICT (node, serial) DO NOTHING;
  outcome := 'ok';
END
$fn$;
`
  }
]

/** The newest schema this code reads and writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.at(-1)?.version ?? 0
