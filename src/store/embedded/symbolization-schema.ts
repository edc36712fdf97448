/**
 * Tables of the symbolization queue and of the symbols themselves. All are created with `IF NOT EXISTS`, so a
 * store written before they existed (schema version 3 without them) gains them when it opens: nothing in
 * the older tables changed, so the schema version stays.
 *
 * Times are epoch milliseconds (BIGINT): leases last seconds to minutes, and retry times come from the
 * symbolizer's clock, not from event seconds. Addresses are ELF virtual addresses (UBIGINT).
 */
export const SYMBOLIZATION_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS symbolization_queue (
  file_id VARCHAR PRIMARY KEY,
  build_id VARCHAR,
  file_name VARCHAR NOT NULL,
  has_symbols BOOLEAN NOT NULL,
  next_time BIGINT,
  attempts INTEGER NOT NULL,
  last_reason VARCHAR,
  lease_owner VARCHAR,
  lease_until BIGINT,
  lease_token VARCHAR,
  lease_version BIGINT,
  version BIGINT NOT NULL
);
-- No primary key: the store keeps the queued frames in memory and appends only new ones (see queued-frames.ts).
CREATE TABLE IF NOT EXISTS symbolization_frames (frame_id VARCHAR NOT NULL, file_id VARCHAR NOT NULL, address UBIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS symbol_ranges (
  file_id VARCHAR NOT NULL,
  start UBIGINT NOT NULL,
  "end" UBIGINT NOT NULL,
  depth USMALLINT NOT NULL,
  function_name VARCHAR NOT NULL,
  function_line INTEGER NOT NULL,
  file_name VARCHAR NOT NULL,
  call_file_name VARCHAR NOT NULL,
  call_line INTEGER NOT NULL,
  line_offsets UINTEGER[] NOT NULL,
  lines INTEGER[] NOT NULL
);
-- Return pads (see ReturnPad): the inline chain at each call instruction under return address - 1, replaced
-- with the file's symbols. \`frames\` is encodePadFrames' JSON.
CREATE TABLE IF NOT EXISTS return_pads (file_id VARCHAR NOT NULL, address UBIGINT NOT NULL, frames VARCHAR NOT NULL);
-- Files whose pads were made for their current symbols (even none): dropped with the symbols, so a file
-- without a row gets its pads made when its code is at hand.
CREATE TABLE IF NOT EXISTS return_pad_files (file_id VARCHAR PRIMARY KEY, pads BIGINT NOT NULL, created BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS symbol_files (
  file_id VARCHAR PRIMARY KEY,
  source VARCHAR NOT NULL,
  build_id VARCHAR,
  file_name VARCHAR,
  ranges BIGINT NOT NULL,
  created BIGINT NOT NULL
);
`;
