import Foundation
import GRDB

/// The coordinator's durable job state: one SQLite database (WAL) in the job
/// directory. Everything a restarted coordinator needs to resume lives here:
/// the job spec, partitions, tasks and their attempts, leases, workers,
/// checkpoints (extract statistics and trees as blobs), the merged extractor
/// and model, stage timings, metrics and an event log.
///
/// Writes that carry an attempt's result are accepted only from the task's
/// current, active attempt; anything else is discarded and recorded as a
/// `staleDiscarded` event. Trees are read back one at a time (a cursor),
/// never all at once.
///
/// Time is always passed in (`now`); the store reads no clock.
public final class JobStore: Sendable {
    let writer: any DatabaseWriter
    /// The database file, or nil for an in-memory store.
    public let path: String?

    /// Opens (creating if needed) the store at `path`, WAL mode, and migrates it.
    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // WAL + NORMAL: a killed process loses nothing committed; only a
            // power loss can drop the last transactions.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        writer = try Self.openPool(path: path, configuration: config)
        self.path = path
        try migrate()
    }

    /// Switching a new file to WAL needs an exclusive lock, and SQLite does not wait for
    /// it: another process opening the same new store at that moment makes the open fail
    /// with SQLITE_BUSY at once, so it is retried a few times.
    private static func openPool(path: String, configuration: Configuration) throws -> DatabasePool {
        var attempt = 1
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && attempt < 5 {
                Thread.sleep(forTimeInterval: 0.02 * Double(attempt))
                attempt += 1
            } catch {
                throw JobStoreError(.database, "cannot open: \(error)", path: path)
            }
        }
    }

    /// Opens the store at `path` for reading only (`spacetime status`): no
    /// write, no migration, so it works on a read-only mount, on a store
    /// another user owns, and while a coordinator writes it (WAL readers do not
    /// block the writer). When SQLite cannot open it read-only because the
    /// WAL index (`job.sqlite-shm`) is absent and cannot be created there (a
    /// read-only directory of a finished job), the file is opened as
    /// immutable: nothing can be writing it then.
    public init(readOnlyPath path: String) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw JobStoreError(.database, "cannot read the store (\(String(cString: strerror(EACCES))), or it does not exist)", path: path)
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            // Opening is lazy about the WAL index: read once so that a store SQLite cannot read fails here.
            _ = try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_master") }
            writer = queue
        } catch {
            // An SQLite URI (percent-encoded path): `file:///dir/job.sqlite?immutable=1`.
            let immutable = URL(fileURLWithPath: path).absoluteString + "?immutable=1"
            do {
                let queue = try DatabaseQueue(path: immutable, configuration: config)
                _ = try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_master") }
                writer = queue
            } catch let second {
                throw JobStoreError(.database, "cannot open read-only: \(error) (as immutable: \(second))", path: path)
            }
        }
        self.path = path
        do {
            let (superseded, migrated) = try writer.read { db in
                (try Self.migrator.hasBeenSuperseded(db), try Self.migrator.hasCompletedMigrations(db))
            }
            if superseded {
                throw JobStoreError(.newerSchema, "written by a newer SpaceTime; upgrade to read this job", path: path)
            }
            if !migrated {
                throw JobStoreError(
                    .database, "written by an older SpaceTime and not upgraded yet; a coordinator --resume (with write access) upgrades it",
                    path: path)
            }
        } catch let error as JobStoreError {
            throw error
        } catch {
            throw JobStoreError(.database, "cannot read the schema version: \(error)", path: path)
        }
    }

    /// An in-memory store (tests, dry runs).
    public init() throws {
        do {
            writer = try DatabaseQueue()
        } catch {
            throw JobStoreError(.database, "cannot open in-memory database: \(error)")
        }
        path = nil
        try migrate()
    }

    /// The journal mode SQLite reports ("wal" for file stores).
    public func journalMode() throws -> String {
        try read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    static let migrator: DatabaseMigrator = {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE job (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        job_id TEXT NOT NULL,
                        spec TEXT NOT NULL,              -- JobSpec as JSON
                        stage TEXT NOT NULL,
                        failure TEXT,
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE partitions (
                        partition INTEGER PRIMARY KEY,
                        trees INTEGER NOT NULL,          -- this partition's share of the forest
                        train_rows INTEGER,
                        test_rows INTEGER,
                        -- Unused: once the partition's class labels and counts (JSON); stores
                        -- written before keep them, newer ones leave them NULL. The statistics
                        -- blob (extract_checkpoints.stats) carries what the rows hold.
                        class_labels TEXT,
                        train_class_counts TEXT,
                        test_class_counts TEXT
                    );
                    CREATE TABLE tasks (
                        id INTEGER PRIMARY KEY,
                        kind TEXT NOT NULL,
                        partition INTEGER NOT NULL REFERENCES partitions(partition),
                        state TEXT NOT NULL,
                        current_attempt INTEGER,
                        failures INTEGER NOT NULL DEFAULT 0,
                        UNIQUE (kind, partition)
                    );
                    CREATE TABLE attempts (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,   -- attempt ids are never reused
                        task_id INTEGER NOT NULL REFERENCES tasks(id),
                        worker_id TEXT NOT NULL,
                        started_at REAL NOT NULL,
                        running_at REAL,
                        ended_at REAL,
                        outcome TEXT,
                        reason TEXT,
                        peak_rss INTEGER,
                        first_tree INTEGER
                    );
                    CREATE INDEX attempts_by_task ON attempts(task_id);
                    CREATE TABLE leases (
                        attempt_id INTEGER PRIMARY KEY REFERENCES attempts(id),
                        worker_id TEXT NOT NULL,
                        deadline REAL NOT NULL
                    );
                    CREATE TABLE workers (
                        id TEXT PRIMARY KEY,
                        host TEXT NOT NULL,
                        pid INTEGER NOT NULL,
                        cores INTEGER NOT NULL,
                        memory_limit INTEGER NOT NULL,
                        state TEXT NOT NULL,
                        joined_at REAL NOT NULL,
                        last_heartbeat REAL,
                        rss INTEGER,
                        peak_rss INTEGER
                    );
                    CREATE TABLE extract_checkpoints (
                        partition INTEGER PRIMARY KEY REFERENCES partitions(partition),
                        attempt_id INTEGER NOT NULL REFERENCES attempts(id),
                        worker_id TEXT NOT NULL,           -- holds the partition's spill
                        stats BLOB NOT NULL
                    );
                    CREATE TABLE trees (
                        partition INTEGER NOT NULL REFERENCES partitions(partition),
                        tree_index INTEGER NOT NULL,
                        attempt_id INTEGER NOT NULL REFERENCES attempts(id),
                        tree BLOB NOT NULL,
                        PRIMARY KEY (partition, tree_index)
                    );
                    CREATE TABLE evaluations (
                        partition INTEGER PRIMARY KEY REFERENCES partitions(partition),
                        attempt_id INTEGER NOT NULL REFERENCES attempts(id),
                        result BLOB NOT NULL
                    );
                    CREATE TABLE artifacts (
                        name TEXT PRIMARY KEY,             -- "extractor", "model", …
                        data BLOB NOT NULL,
                        stored_at REAL NOT NULL
                    );
                    CREATE TABLE stage_timings (
                        stage TEXT PRIMARY KEY,
                        started_at REAL NOT NULL,
                        ended_at REAL,
                        rows INTEGER
                    );
                    CREATE TABLE metrics (
                        name TEXT PRIMARY KEY,
                        value REAL NOT NULL
                    );
                    CREATE TABLE events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at REAL NOT NULL,
                        kind TEXT NOT NULL,
                        task_kind TEXT,
                        partition INTEGER,
                        attempt_id INTEGER,
                        worker_id TEXT,
                        message TEXT NOT NULL
                    );
                    CREATE INDEX events_by_kind ON events(kind);
                    """)
        }
        registerMemorySampleMigration(&m)
        registerTaskVariantMigration(&m)
        return m
    }()

    private func migrate() throws {
        do {
            let superseded = try writer.read { db in try Self.migrator.hasBeenSuperseded(db) }
            if superseded {
                throw JobStoreError(.newerSchema, "written by a newer SpaceTime; upgrade to resume this job", path: path)
            }
            // GRDB reads the applied migrations before running each in its own transaction, so
            // two processes opening a new store at once (a coordinator creating it, a test or a
            // tool reading it) may both run one, and the later fails ("table job already
            // exists"). Its transaction rolled back; after a moment the other's is committed.
            var attempt = 1
            while true {
                do {
                    try Self.migrator.migrate(writer)
                    break
                } catch  where attempt < 5 {
                    Thread.sleep(forTimeInterval: 0.02 * Double(attempt))
                    attempt += 1
                }
            }
        } catch let error as JobStoreError {
            throw error
        } catch {
            throw JobStoreError(.database, "cannot migrate: \(error)", path: path)
        }
    }

    // MARK: Access helpers (map every failure to JobStoreError)

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try writer.write(body)
        } catch let error as JobStoreError {
            throw error
        } catch {
            throw JobStoreError(.database, "\(error)", path: path)
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try writer.read(body)
        } catch let error as JobStoreError {
            throw error
        } catch {
            throw JobStoreError(.database, "\(error)", path: path)
        }
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    static func unjson<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
        guard let text else { return nil }
        return try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    // MARK: Events

    func appendEvent(
        _ db: Database, _ kind: JobEventKind, task: TaskName? = nil, attemptID: UInt64? = nil,
        workerID: String? = nil, _ message: String, now: Timestamp
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO events (at, kind, task_kind, partition, variant, attempt_id, worker_id, message)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                now, kind.rawValue, task?.kind.rawValue, task?.partition, task?.variant.key,
                attemptID.map { Int64($0) }, workerID, message
            ])
    }

    /// Appends a free-form event (e.g. "train/p1 resumed at tree 7 of 13 on w3").
    public func log(
        _ kind: JobEventKind, task: TaskName? = nil, attemptID: UInt64? = nil, workerID: String? = nil,
        _ message: String, now: Timestamp
    ) throws {
        try write { db in try appendEvent(db, kind, task: task, attemptID: attemptID, workerID: workerID, message, now: now) }
    }

    /// Events in order, optionally only of one kind.
    public func events(kind: JobEventKind? = nil) throws -> [JobEvent] {
        try read { db in
            let rows =
                if let kind {
                    try Row.fetchAll(db, sql: "SELECT * FROM events WHERE kind = ? ORDER BY id", arguments: [kind.rawValue])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM events ORDER BY id")
                }
            return rows.map { row in
                let taskKind = (row["task_kind"] as String?).flatMap(TaskKind.init(rawValue:))
                let partition = row["partition"] as Int?
                let variant = (row["variant"] as String?).flatMap(TaskVariant.init(key:)) ?? .whole
                return JobEvent(
                    id: row["id"], at: row["at"],
                    kind: JobEventKind(rawValue: row["kind"]) ?? .stageChanged,
                    task: taskKind.flatMap { k in partition.map { TaskName(k, $0, variant) } },
                    attemptID: (row["attempt_id"] as Int64?).map { UInt64($0) },
                    workerID: row["worker_id"], message: row["message"])
            }
        }
    }
}
