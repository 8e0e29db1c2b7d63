import Foundation

/// Structural checks of one decoded message, independent of session state:
/// direction, required fields, ranges, enum values, and agreement between the
/// header and the payload frame.
struct MessageValidator {
    var limits: ProtocolLimits

    func validate(_ message: WireMessage, direction: WireDirection) throws(ProtocolError) {
        guard let body = message.envelope.body else {
            throw ProtocolError(.missingBody, "envelope has no body (unknown message type?)")
        }
        var check = Check(kind: WireMessage.kindName(body), limits: limits)
        guard Self.allowed(body, direction: direction) else {
            throw check.error(.wrongDirection, nil, "may not be sent \(direction == .toCoordinator ? "to the coordinator" : "to a worker")")
        }
        let payload = message.payload
        switch body {
        case .hello(let m):
            try check.noPayload(payload)
            try check.version(m.protocolVersion)
            try check.identifier(m.workerID, "worker_id")
            try check.text(m.host, "host", max: limits.maxHostBytes, required: true)
            try check.nonZero(UInt64(m.pid), "pid")
            try check.range(UInt64(m.cores), "cores", 1...UInt64(limits.maxCores))
            try check.nonZero(m.memoryLimitBytes, "memory_limit_bytes")
            try check.text(m.softwareVersion, "software_version", max: limits.maxIdentifierBytes, required: false)
            try check.count(m.held.count, "held", max: limits.maxListEntries)
            for held in m.held {
                try check.identifier(held.jobID, "held.job_id")
                try check.nonZero(held.extractAttemptID, "held.extract_attempt_id")
            }
        case .welcome(let m):
            try check.noPayload(payload)
            try check.version(m.protocolVersion)
            try check.nonZero(m.session, "session")
            try check.range(
                UInt64(m.heartbeatIntervalMs), "heartbeat_interval_ms",
                UInt64(limits.heartbeatRangeMs.lowerBound)...UInt64(limits.heartbeatRangeMs.upperBound))
            try check.range(UInt64(m.heartbeatLiveness), "heartbeat_liveness", 1...1000)
            try check.range(UInt64(m.maxPayloadBytes), "max_payload_bytes", 1024...UInt64(limits.maxPayloadBytes))
            try check.identifier(m.jobID, "job_id")
        case .reject(let m):
            try check.noPayload(payload)
            try check.enumValue(m.code.rawValue, "code", valid: WireRejectCode.allCases)
            try check.text(m.message, "message", max: limits.maxTextBytes, required: true)
        case .heartbeat(let m):
            try check.noPayload(payload)
            try check.count(m.running.count, "running", max: limits.maxListEntries)
            if m.peakRssBytes < m.rssBytes && m.peakRssBytes != 0 {
                throw check.error(.outOfRange, "peak_rss_bytes", "peak \(m.peakRssBytes) below current \(m.rssBytes)")
            }
            for p in m.running {
                try check.nonZero(p.taskID, "running.task_id")
                try check.nonZero(p.attemptID, "running.attempt_id")
                try check.enumValue(p.unit.rawValue, "running.unit", valid: WireProgress.Unit.allCases)
                if p.total != 0 && p.done > p.total {
                    throw check.error(.outOfRange, "running.done", "done \(p.done) exceeds total \(p.total)")
                }
            }
        case .assignment(let m):
            try check.noPayload(payload)
            try validateAssignment(m, &check)
        case .started(let m):
            try check.noPayload(payload)
            try check.nonZero(m.taskID, "task_id")
            try check.nonZero(m.attemptID, "attempt_id")
        case .rowBatch(let m):
            try check.nonZero(m.attemptID, "attempt_id")
            try validateRowBatch(m, payload: payload, &check)
        case .rowsEnd(let m):
            try check.noPayload(payload)
            try check.nonZero(m.attemptID, "attempt_id")
            if m.trainRows.addingReportingOverflow(m.testRows) != (m.rows, false) {
                throw check.error(.outOfRange, "rows", "rows \(m.rows) ≠ train \(m.trainRows) + test \(m.testRows)")
            }
        case .credit(let m):
            try check.noPayload(payload)
            try check.nonZero(m.attemptID, "attempt_id")
            try check.enumValue(m.stream.rawValue, "stream", valid: WireStream.allCases)
            let expected: WireStream = direction == .toCoordinator ? .rows : .predictions
            if m.stream != expected {
                throw check.error(.wrongDirection, "stream", "credit for \(m.stream) may not travel this way")
            }
        case .checkpoint(let m):
            try check.nonZero(m.taskID, "task_id")
            try check.nonZero(m.attemptID, "attempt_id")
            try validateCheckpoint(m, payload: payload, &check)
        case .checkpointAck(let m):
            try check.noPayload(payload)
            try check.nonZero(m.attemptID, "attempt_id")
        case .done(let m):
            try check.nonZero(m.taskID, "task_id")
            try check.nonZero(m.attemptID, "attempt_id")
            if m.hasResult_p {
                guard let payload, !payload.isEmpty else {
                    throw check.error(.payloadMismatch, "has_result", "result announced but no payload frame")
                }
            } else {
                try check.noPayload(payload)
            }
        case .failed(let m):
            try check.noPayload(payload)
            try check.nonZero(m.taskID, "task_id")
            try check.nonZero(m.attemptID, "attempt_id")
            try check.enumValue(m.reason.rawValue, "reason", valid: WireFailureReason.allCases)
            try check.text(m.message, "message", max: limits.maxTextBytes, required: true)
        case .cancel(let m):
            try check.noPayload(payload)
            try check.nonZero(m.attemptID, "attempt_id")
            try check.text(m.reason, "reason", max: limits.maxTextBytes, required: false)
        case .shutdown(let m):
            try check.noPayload(payload)
            try check.text(m.reason, "reason", max: limits.maxTextBytes, required: false)
        case .goodbye(let m):
            try check.noPayload(payload)
            try check.text(m.reason, "reason", max: limits.maxTextBytes, required: false)
        case .blobRequest(let m):
            try check.noPayload(payload)
            try check.digest(m.digest, "digest")
            try check.range(UInt64(m.maxBytes), "max_bytes", 1...UInt64(limits.maxPayloadBytes))
        case .blobChunk(let m):
            try check.digest(m.digest, "digest")
            guard let payload else {
                throw check.error(.payloadMismatch, nil, "blob chunk without payload frame")
            }
            let (end, overflow) = m.offset.addingReportingOverflow(UInt64(payload.count))
            if overflow || end > m.totalSize {
                throw check.error(.outOfRange, "offset", "chunk [\(m.offset), +\(payload.count)) exceeds blob size \(m.totalSize)")
            }
        case .predictionBatch(let m):
            try check.nonZero(m.attemptID, "attempt_id")
            try check.range(UInt64(m.rows), "rows", 1...UInt64(limits.maxRowsPerBatch))
            try check.nonZero(UInt64(m.bytesPerRow), "bytes_per_row")
            guard let payload else {
                throw check.error(.payloadMismatch, nil, "prediction batch without payload frame")
            }
            if UInt64(m.rows) * UInt64(m.bytesPerRow) != UInt64(payload.count) {
                throw check.error(.payloadMismatch, "rows", "\(m.rows) rows × \(m.bytesPerRow) bytes ≠ payload \(payload.count) bytes")
            }
        }
    }

    static func allowed(_ body: WireEnvelope.OneOf_Body, direction: WireDirection) -> Bool {
        switch body {
        case .heartbeat:
            return true
        case .hello, .started, .checkpoint, .done, .failed, .goodbye, .blobRequest, .predictionBatch:
            return direction == .toCoordinator
        case .credit:
            return true  // rows credit flows to the coordinator, prediction credit to workers
        case .welcome, .reject, .assignment, .rowBatch, .rowsEnd, .checkpointAck, .cancel, .shutdown, .blobChunk:
            return direction == .toWorker
        }
    }

    private func validateAssignment(_ m: WireTaskAssignment, _ check: inout Check) throws(ProtocolError) {
        try check.identifier(m.jobID, "job_id")
        try check.nonZero(m.taskID, "task_id")
        try check.enumValue(m.kind.rawValue, "kind", valid: WireTaskKind.allCases)
        try check.nonZero(m.attemptID, "attempt_id")
        try check.range(
            UInt64(m.leaseMs), "lease_ms",
            UInt64(limits.leaseRangeMs.lowerBound)...UInt64(limits.leaseRangeMs.upperBound))
        try check.enumValue(m.source.rawValue, "source", valid: WireRowSource.allCases)
        if m.source == .localSpill {
            try check.nonZero(m.spillAttemptID, "spill_attempt_id")
        }
        guard m.hasSchema else { throw check.error(.missingField, "schema", "missing") }
        let schema = m.schema
        try check.range(UInt64(schema.columnCount), "schema.column_count", 1...1_000_000)
        if schema.labelColumn >= schema.columnCount {
            throw check.error(.outOfRange, "schema.label_column", "label column \(schema.labelColumn) ≥ column count \(schema.columnCount)")
        }
        if schema.delimiter == 0 || schema.delimiter > 127 || schema.delimiter == 0x22 || schema.delimiter == 0x0A
            || schema.delimiter == 0x0D
        {
            throw check.error(.outOfRange, "schema.delimiter", "delimiter byte \(schema.delimiter) is not a usable ASCII separator")
        }
        try check.count(schema.headerRecord.count, "schema.header_record", max: limits.maxHeaderRecordBytes)
        try check.count(m.parameters.count, "parameters", max: limits.maxInlineBlobBytes)
        switch m.kind {
        case .extract:
            if m.hasTrees { throw check.error(.outOfRange, "trees", "extract tasks build no trees") }
        case .train:
            guard m.hasTrees else { throw check.error(.missingField, "trees", "train task without tree range") }
            if m.trees.first >= m.trees.end || m.trees.end > m.treesInPartition {
                throw check.error(.outOfRange, "trees", "range [\(m.trees.first), \(m.trees.end)) not within 0..<\(m.treesInPartition)")
            }
            try check.nonZero(UInt64(m.checkpointEvery), "checkpoint_every")
            try blob(m.extractor, present: m.hasExtractor, "extractor", &check)
        case .evaluate, .predict:
            try blob(m.extractor, present: m.hasExtractor, "extractor", &check)
            try blob(m.model, present: m.hasModel, "model", &check)
        default:
            break  // rejected by enumValue above
        }
        if m.hasVariant {
            switch m.variant.value {
            case nil:
                throw check.error(.missingField, "variant", "set but empty (leave it unset for the whole partition)")
            case .whole(let whole):
                if !whole { throw check.error(.outOfRange, "variant.whole", "false (leave the variant unset for the whole partition)") }
            case .trees(let r) where TaskKind(wire: m.kind)?.scoresWithModel == true:
                // A tree slice of the model (tree-sharded scoring): its model blob holds those trees only.
                if r.first >= r.end { throw check.error(.outOfRange, "variant.trees", "empty tree slice [\(r.first), \(r.end))") }
            case .trees(let r):
                guard m.kind == .train else {
                    throw check.error(.outOfRange, "variant.trees", "a tree-range variant on a \(m.kind) task")
                }
                if r.first >= r.end || r.end > m.treesInPartition {
                    throw check.error(.outOfRange, "variant.trees", "range [\(r.first), \(r.end)) not within 0..<\(m.treesInPartition)")
                }
                if m.trees.first < r.first || m.trees.end > r.end {
                    throw check.error(
                        .outOfRange, "trees", "range [\(m.trees.first), \(m.trees.end)) outside the task's variant [\(r.first), \(r.end))")
                }
            case .fold(let f):
                // A cross-validation task: train grows the fold's forest's trees of the partition, evaluate scores the fold.
                guard m.kind == .train || m.kind == .evaluate else {
                    throw check.error(.outOfRange, "variant.fold", "a fold variant on a \(m.kind) task")
                }
                let r = f.trees
                if r.first >= r.end { throw check.error(.outOfRange, "variant.fold.trees", "empty tree range [\(r.first), \(r.end))") }
                if m.kind == .train {
                    if r.end > m.treesInPartition {
                        throw check.error(
                            .outOfRange, "variant.fold.trees", "range [\(r.first), \(r.end)) not within 0..<\(m.treesInPartition)")
                    }
                    if m.trees.first < r.first || m.trees.end > r.end {
                        throw check.error(
                            .outOfRange, "trees",
                            "range [\(m.trees.first), \(m.trees.end)) outside the task's fold trees [\(r.first), \(r.end))")
                    }
                }
            }
        }
    }

    private func blob(_ b: WireBlob, present: Bool, _ field: String, _ check: inout Check) throws(ProtocolError) {
        guard present, let value = b.value else { throw check.error(.missingField, field, "missing") }
        switch value {
        case .inline(let data):
            if data.isEmpty { throw check.error(.missingField, field, "empty inline blob") }
            try check.count(data.count, field, max: limits.maxInlineBlobBytes)
        case .ref(let ref):
            try check.digest(ref.digest, field + ".digest")
            try check.nonZero(ref.size, field + ".size")
        }
    }

    private func validateRowBatch(_ m: WireRowBatch, payload: Data?, _ check: inout Check) throws(ProtocolError) {
        guard let payload else { throw check.error(.payloadMismatch, nil, "row batch without payload frame") }
        let rows = m.recordLengths.count
        try check.range(UInt64(rows), "record_lengths", 1...UInt64(limits.maxRowsPerBatch))
        try check.nonZero(m.firstLine, "first_line")
        if m.lineDeltas.count != rows - 1 {
            throw check.error(.payloadMismatch, "line_deltas", "\(m.lineDeltas.count) deltas for \(rows) records (want \(rows - 1))")
        }
        var line = m.firstLine
        for delta in m.lineDeltas {
            guard delta > 0 else { throw check.error(.outOfRange, "line_deltas", "line numbers must increase") }
            let (next, overflow) = line.addingReportingOverflow(UInt64(delta))
            guard !overflow else { throw check.error(.outOfRange, "line_deltas", "line number overflows") }
            line = next
        }
        var total: UInt64 = 0
        for length in m.recordLengths { total &+= UInt64(length) }  // ≤ 2^16 × 2^32: no overflow
        if total != UInt64(payload.count) {
            throw check.error(.payloadMismatch, "record_lengths", "records sum to \(total) bytes, payload has \(payload.count)")
        }
        let maskBytes = (rows + 7) / 8
        if m.testMask.count != maskBytes {
            throw check.error(.payloadMismatch, "test_mask", "\(m.testMask.count) mask bytes for \(rows) records (want \(maskBytes))")
        }
        if rows % 8 != 0, let last = m.testMask.last, last >> UInt8(rows % 8) != 0 {
            throw check.error(.outOfRange, "test_mask", "bits set beyond the last record")
        }
        if !m.folds.isEmpty && m.folds.count != rows {
            throw check.error(.payloadMismatch, "folds", "\(m.folds.count) fold bytes for \(rows) records (want \(rows) or none)")
        }
    }

    private func validateCheckpoint(_ m: WireCheckpoint, payload: Data?, _ check: inout Check) throws(ProtocolError) {
        guard let content = m.content else { throw check.error(.missingField, "content", "neither stats nor trees") }
        guard let payload, !payload.isEmpty else {
            throw check.error(.payloadMismatch, nil, "checkpoint without payload frame")
        }
        switch content {
        case .stats(let s):
            if s.trainRows.addingReportingOverflow(s.testRows) != (s.rows, false) {
                throw check.error(.outOfRange, "stats.rows", "rows \(s.rows) ≠ train \(s.trainRows) + test \(s.testRows)")
            }
            try check.count(s.classLabels.count, "stats.class_labels", max: limits.maxClasses)
            for (field, counts, rows) in [
                ("stats.train_class_counts", s.trainClassCounts, s.trainRows),
                ("stats.test_class_counts", s.testClassCounts, s.testRows)
            ] {
                if counts.count != s.classLabels.count {
                    throw check.error(.payloadMismatch, field, "\(counts.count) counts for \(s.classLabels.count) labels")
                }
                var sum: UInt64 = 0
                for c in counts {
                    let (next, overflow) = sum.addingReportingOverflow(c)
                    guard !overflow else { throw check.error(.outOfRange, field, "counts overflow") }
                    sum = next
                }
                // No labels: a partition summary without classes (a regression target).
                if sum != rows && !s.classLabels.isEmpty {
                    throw check.error(.outOfRange, field, "counts sum to \(sum), rows are \(rows)")
                }
            }
            for label in s.classLabels {
                try check.text(label, "stats.class_labels", max: limits.maxTextBytes, required: false)
            }
        case .trees(let t):
            let count = t.treeLengths.count
            try check.range(UInt64(count), "trees.tree_lengths", 1...UInt64(limits.maxTreesPerCheckpoint))
            if UInt64(t.firstTree) + UInt64(count) > UInt64(UInt32.max) {
                throw check.error(.outOfRange, "trees.first_tree", "tree index overflows")
            }
            var total: UInt64 = 0
            for length in t.treeLengths {
                guard length > 0 else { throw check.error(.outOfRange, "trees.tree_lengths", "empty tree blob") }
                total += UInt64(length)
            }
            if total != UInt64(payload.count) {
                throw check.error(.payloadMismatch, "trees.tree_lengths", "trees sum to \(total) bytes, payload has \(payload.count)")
            }
        }
    }
}

/// Small helpers that produce errors naming the message and field.
private struct Check {
    let kind: String
    let limits: ProtocolLimits

    func error(_ code: ProtocolError.Code, _ field: String?, _ detail: String) -> ProtocolError {
        ProtocolError(code, detail, messageKind: kind, field: field)
    }

    func noPayload(_ payload: Data?) throws(ProtocolError) {
        if let payload { throw error(.payloadMismatch, nil, "unexpected payload frame of \(payload.count) bytes") }
    }

    func version(_ v: UInt32) throws(ProtocolError) {
        if v != ProtocolVersion.current {
            throw error(.versionMismatch, "protocol_version", "peer speaks version \(v), this build speaks \(ProtocolVersion.current)")
        }
    }

    func nonZero(_ v: UInt64, _ field: String) throws(ProtocolError) {
        if v == 0 { throw error(.missingField, field, "must be non-zero") }
    }

    func range(_ v: UInt64, _ field: String, _ r: ClosedRange<UInt64>) throws(ProtocolError) {
        if !r.contains(v) { throw error(.outOfRange, field, "\(v) not in \(r.lowerBound)...\(r.upperBound)") }
    }

    func count(_ n: Int, _ field: String, max: Int) throws(ProtocolError) {
        if n > max { throw error(.tooLarge, field, "\(n) exceeds the limit of \(max)") }
    }

    func text(_ s: String, _ field: String, max: Int, required: Bool) throws(ProtocolError) {
        if required && s.isEmpty { throw error(.missingField, field, "must not be empty") }
        if s.utf8.count > max { throw error(.tooLarge, field, "\(s.utf8.count) bytes exceeds \(max)") }
    }

    func identifier(_ s: String, _ field: String) throws(ProtocolError) {
        try text(s, field, max: limits.maxIdentifierBytes, required: true)
        for b in s.utf8 {
            let ok =
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x2E || b == 0x5F || b == 0x3A || b == 0x2F || b == 0x2D
            if !ok { throw error(.outOfRange, field, "invalid character in identifier (allowed: A-Z a-z 0-9 . _ : / -)") }
        }
    }

    func digest(_ d: Data, _ field: String) throws(ProtocolError) {
        if d.count != 32 { throw error(.outOfRange, field, "digest of \(d.count) bytes, want 32 (SHA-256)") }
    }

    func enumValue<E: RawRepresentable>(_ raw: Int, _ field: String, valid: [E]) throws(ProtocolError) where E.RawValue == Int {
        if raw == 0 || !valid.contains(where: { $0.rawValue == raw }) {
            throw error(.invalidEnum, field, "value \(raw) is unspecified or unknown")
        }
    }
}
