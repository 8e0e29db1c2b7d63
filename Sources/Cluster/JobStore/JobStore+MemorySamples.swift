import Foundation
import GRDB

/// One resident-memory sample of a worker, from a heartbeat: its RSS then, and its peak
/// RSS so far (VmHWM, which also catches spikes between heartbeats).
public struct RSSSample: Sendable, Hashable, Codable {
    public var at: Timestamp
    public var rss: UInt64
    public var peak: UInt64
}

extension JobStore {
    /// Samples kept per worker: when a worker has more, the buckets double in width and
    /// merge pairwise, so the samples stay evenly spread over the whole job.
    public static let rssSamplesPerWorker = 400
    /// The first bucket width: at most two samples a second are kept.
    static let rssInitialBucketSeconds = 0.5

    /// The table of heartbeat RSS samples: per worker, one sample per time bucket of
    /// `rss_sampling.width` seconds from `origin` (the bucket's highest RSS, so peaks survive,
    /// and the highest peak RSS the bucket's heartbeats reported).
    static func registerMemorySampleMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v2 rss samples") { db in
            try db.execute(
                sql: """
                    CREATE TABLE rss_sampling (
                        worker_id TEXT PRIMARY KEY,
                        origin REAL NOT NULL,
                        width REAL NOT NULL
                    );
                    CREATE TABLE rss_samples (
                        worker_id TEXT NOT NULL,
                        bucket INTEGER NOT NULL,
                        at REAL NOT NULL,
                        rss INTEGER NOT NULL,
                        peak INTEGER NOT NULL,
                        PRIMARY KEY (worker_id, bucket)
                    );
                    """)
        }
    }

    /// Records a heartbeat's RSS (inside the heartbeat's transaction).
    static func recordRSSSample(_ db: Database, workerID: String, rss: UInt64, peak: UInt64, now: Timestamp) throws {
        let value = Int64(clamping: rss)
        let high = Int64(clamping: max(peak, rss))
        var origin = now
        var width = rssInitialBucketSeconds
        if let row = try Row.fetchOne(db, sql: "SELECT origin, width FROM rss_sampling WHERE worker_id = ?", arguments: [workerID]) {
            origin = row["origin"]
            width = row["width"]
        } else {
            try db.execute(
                sql: "INSERT INTO rss_sampling (worker_id, origin, width) VALUES (?, ?, ?)",
                arguments: [workerID, origin, width])
        }
        let bucket = Int64(max(0, (now - origin) / width))
        try db.execute(
            sql: """
                INSERT INTO rss_samples (worker_id, bucket, at, rss, peak) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (worker_id, bucket) DO UPDATE SET
                    at = CASE WHEN excluded.rss > rss THEN excluded.at ELSE at END,
                    rss = MAX(rss, excluded.rss), peak = MAX(peak, excluded.peak)
                """, arguments: [workerID, bucket, now, value, high])
        let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rss_samples WHERE worker_id = ?", arguments: [workerID]) ?? 0
        guard count > rssSamplesPerWorker else { return }
        // Double the bucket width: pairs of buckets merge, each keeping its higher sample.
        try db.execute(sql: "UPDATE rss_sampling SET width = ? WHERE worker_id = ?", arguments: [width * 2, workerID])
        let rows = try Row.fetchAll(
            db, sql: "SELECT bucket, at, rss, peak FROM rss_samples WHERE worker_id = ? ORDER BY bucket",
            arguments: [workerID])
        var kept: [Int64: (at: Double, rss: Int64, peak: Int64)] = [:]
        for row in rows {
            let b = (row["bucket"] as Int64) / 2
            let sample = (at: row["at"] as Double, rss: row["rss"] as Int64, peak: row["peak"] as Int64)
            if let k = kept[b] {
                kept[b] = k.rss >= sample.rss ? (k.at, k.rss, max(k.peak, sample.peak)) : (sample.at, sample.rss, max(k.peak, sample.peak))
            } else {
                kept[b] = sample
            }
        }
        try db.execute(sql: "DELETE FROM rss_samples WHERE worker_id = ?", arguments: [workerID])
        for (b, s) in kept {
            try db.execute(
                sql: "INSERT INTO rss_samples (worker_id, bucket, at, rss, peak) VALUES (?, ?, ?, ?, ?)",
                arguments: [workerID, b, s.at, s.rss, s.peak])
        }
    }

    /// Every worker's RSS samples in time order, by worker id (none in a store written
    /// before the samples were kept, opened read-only).
    public func rssSamples() throws -> [String: [RSSSample]] {
        try read { db in
            var out: [String: [RSSSample]] = [:]
            guard try db.tableExists("rss_samples") else { return out }
            for row in try Row.fetchAll(db, sql: "SELECT worker_id, at, rss, peak FROM rss_samples ORDER BY worker_id, at") {
                out[row["worker_id"], default: []].append(
                    RSSSample(
                        at: row["at"], rss: UInt64(max(0, row["rss"] as Int64)),
                        peak: UInt64(max(0, row["peak"] as Int64))))
            }
            return out
        }
    }
}
