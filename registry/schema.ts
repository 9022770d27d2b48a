import type { Migration } from './sqlite.ts'

export const REGISTRY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('maintenance_firm', 'site_operator')),
  contact TEXT,
  created_at INTEGER NOT NULL
);

CREATE TABLE sites (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  category TEXT NOT NULL,
  address TEXT NOT NULL,
  operator_tenant_id TEXT REFERENCES tenants(id),
  created_at INTEGER NOT NULL
);

CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('elevator', 'scale')),
  site_id TEXT NOT NULL REFERENCES sites(id),
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  name TEXT,
  status_period_s INTEGER NOT NULL,
  in_service INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL
);
CREATE INDEX devices_tenant ON devices(tenant_id);
CREATE INDEX devices_site ON devices(site_id);

CREATE TABLE elevators (
  device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
  registration_code TEXT NOT NULL UNIQUE,
  rated_speed_mps REAL NOT NULL,
  floors INTEGER NOT NULL,
  last_inspection_on TEXT,
  next_inspection_due TEXT,
  last_maintenance_at INTEGER
);

CREATE TABLE scales (
  device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
  certificate_no TEXT NOT NULL UNIQUE,
  accuracy_class TEXT NOT NULL,
  max_kg REAL NOT NULL,
  e_g REAL NOT NULL,
  last_verification_on TEXT,
  next_verification_due TEXT
);

-- One row per device: the current secret. Rotation replaces it and bumps version.
CREATE TABLE device_credentials (
  device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
  secret_hash TEXT NOT NULL,
  version INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  revoked_at INTEGER
);

CREATE TABLE service_accounts (
  username TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);

CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'duty_officer', 'tenant', 'viewer')),
  tenant_id TEXT REFERENCES tenants(id),
  token_digest TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  CHECK ((role = 'tenant') = (tenant_id IS NOT NULL))
);

-- Periodic verification of scales (JJG 539, at most every 12 months): history, never rewritten.
CREATE TABLE verifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL REFERENCES devices(id),
  opened_at INTEGER NOT NULL,
  closed_at INTEGER,
  verified_on TEXT,
  passed INTEGER,
  valid_until TEXT,
  due_before TEXT,
  verifier TEXT,
  note TEXT
);
CREATE INDEX verifications_device ON verifications(device_id, opened_at);

-- Periodic inspection of elevators (TSG T7001): declaration (applied for) and result.
CREATE TABLE inspections (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL REFERENCES devices(id),
  declared_on TEXT NOT NULL,
  due_before TEXT,
  inspected_on TEXT,
  passed INTEGER,
  valid_until TEXT,
  recorded_at INTEGER NOT NULL,
  actor TEXT
);
CREATE INDEX inspections_device ON inspections(device_id, declared_on);
`,
  },
  {
    // Whose right to stay connected may have changed, for brokers in other processes: on a commit
    // elsewhere they re-check these names only. Re-checking every connected client instead took the
    // event loop for 0.43-0.47 s at 20,000 devices, at each operator edit or ledger import. Triggers,
    // so that no write path (the CLI, an import, plain SQL) can forget it; a day of it is kept.
    version: 2,
    sql: `
CREATE TABLE access_changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE TRIGGER access_changes_pruned AFTER INSERT ON access_changes BEGIN
  DELETE FROM access_changes WHERE at < NEW.at - 86400;
END;
CREATE TRIGGER access_device_credentials AFTER UPDATE ON device_credentials BEGIN
  INSERT INTO access_changes (name, at) VALUES (NEW.device_id, unixepoch());
END;
CREATE TRIGGER access_device_credentials_deleted AFTER DELETE ON device_credentials BEGIN
  INSERT INTO access_changes (name, at) VALUES (OLD.device_id, unixepoch());
END;
CREATE TRIGGER access_device_in_service AFTER UPDATE OF in_service ON devices
  WHEN OLD.in_service IS NOT NEW.in_service BEGIN
  INSERT INTO access_changes (name, at) VALUES (NEW.id, unixepoch());
END;
CREATE TRIGGER access_device_deleted AFTER DELETE ON devices BEGIN
  INSERT INTO access_changes (name, at) VALUES (OLD.id, unixepoch());
END;
CREATE TRIGGER access_service_accounts AFTER UPDATE ON service_accounts BEGIN
  INSERT INTO access_changes (name, at) VALUES (NEW.username, unixepoch());
END;
`,
  },
]
