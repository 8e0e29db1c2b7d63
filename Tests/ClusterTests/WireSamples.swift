import Foundation

@testable import Cluster

/// Valid messages of every kind, for round trips and as mutation seeds.
enum WireSamples {
    static let digest = Data(repeating: 0xAB, count: 32)

    static func hello(version: UInt32 = ProtocolVersion.current) -> WireMessage {
        var h = WireHello()
        h.protocolVersion = version
        h.workerID = "w1"
        h.host = "host-a"
        h.pid = 4121
        h.cores = 2
        h.memoryLimitBytes = 512 << 20
        h.spillFreeBytes = 10 << 30
        h.softwareVersion = "0.1.0"
        var held = WireHeldPartition()
        held.jobID = "job-1"
        held.partition = 3
        held.extractAttemptID = 17
        held.trainRows = 800
        held.testRows = 200
        h.held = [held]
        return WireMessage(.hello(h))
    }

    static func welcome(session: UInt64 = 99) -> WireMessage {
        var w = WireWelcome()
        w.protocolVersion = ProtocolVersion.current
        w.session = session
        w.heartbeatIntervalMs = 1000
        w.heartbeatLiveness = 3
        w.maxPayloadBytes = 8 << 20
        w.jobID = "job-1"
        return WireMessage(.welcome(w), seq: 1, session: 0)
    }

    static func schema() -> WireCsvSchema {
        var s = WireCsvSchema()
        s.headerRecord = Data("f0,f1,label".utf8)
        s.labelColumn = 2
        s.delimiter = 44
        s.columnCount = 3
        return s
    }

    /// ``assignment(kind:attemptID:taskID:source:)`` as the worker engine hands it on: converted to the domain type.
    static func task(
        kind: WireTaskKind = .train, attemptID: UInt64 = 7, taskID: UInt64 = 3, source: WireRowSource = .streamed
    ) -> TaskAssignment {
        try! TaskAssignment(wire: assignment(kind: kind, attemptID: attemptID, taskID: taskID, source: source))
    }

    static func assignment(
        kind: WireTaskKind = .train, attemptID: UInt64 = 7, taskID: UInt64 = 3,
        source: WireRowSource = .streamed
    ) -> WireTaskAssignment {
        var a = WireTaskAssignment()
        a.jobID = "job-1"
        a.taskID = taskID
        a.kind = kind
        a.partition = 2
        a.attemptID = attemptID
        a.leaseMs = 30_000
        a.seed = 42
        a.parameters = Data([1, 2, 3])
        a.schema = schema()
        a.source = source
        if source == .localSpill { a.spillAttemptID = 5 }
        if kind == .train {
            var r = WireTreeRange()
            r.first = 4
            r.end = 13
            a.trees = r
            a.treesInPartition = 13
            a.checkpointEvery = 1
        }
        if kind != .extract {
            var e = WireBlob()
            e.inline = Data([9, 9, 9])
            a.extractor = e
        }
        if kind == .evaluate || kind == .predict {
            var ref = WireBlobRef()
            ref.digest = digest
            ref.size = 1 << 24
            var m = WireBlob()
            m.ref = ref
            a.model = m
        }
        return a
    }

    /// A row batch of `records` with line numbers and test flags; payload = records joined.
    static func rowBatch(
        attemptID: UInt64 = 7, batchSeq: UInt64 = 0,
        records: [String] = ["1.0,2.0,a", "3.5,\"x\ny\",b", "0,0,a"],
        lines: [UInt64] = [2, 5, 6], test: [Bool] = [false, true, false]
    ) -> WireMessage {
        var b = WireRowBatch()
        b.attemptID = attemptID
        b.batchSeq = batchSeq
        b.firstLine = lines[0]
        b.lineDeltas = zip(lines.dropFirst(), lines).map { UInt32($0 - $1) }
        b.recordLengths = records.map { UInt32($0.utf8.count) }
        var mask = Data(repeating: 0, count: (records.count + 7) / 8)
        for (i, t) in test.enumerated() where t { mask[i / 8] |= 1 << UInt8(i % 8) }
        b.testMask = mask
        return WireMessage(.rowBatch(b), payload: Data(records.joined().utf8))
    }

    static func treesCheckpoint(
        attemptID: UInt64 = 7, taskID: UInt64 = 3, first: UInt32 = 4,
        trees: [Data] = [Data([1, 2]), Data([3, 4, 5])]
    ) -> WireMessage {
        var t = WireCheckpoint.Trees()
        t.firstTree = first
        t.treeLengths = trees.map { UInt32($0.count) }
        var c = WireCheckpoint()
        c.taskID = taskID
        c.attemptID = attemptID
        c.trees = t
        return WireMessage(.checkpoint(c), payload: trees.reduce(Data(), +))
    }

    static func statsCheckpoint(attemptID: UInt64 = 7, taskID: UInt64 = 3) -> WireMessage {
        var s = WireCheckpoint.ExtractStats()
        s.rows = 10
        s.trainRows = 8
        s.testRows = 2
        s.classLabels = ["a", "b"]
        s.trainClassCounts = [5, 3]
        s.testClassCounts = [1, 1]
        var c = WireCheckpoint()
        c.taskID = taskID
        c.attemptID = attemptID
        c.stats = s
        return WireMessage(.checkpoint(c), payload: Data([0xDE, 0xAD]))
    }

    /// One valid message of every kind with the direction it travels.
    static func all() -> [(WireMessage, WireDirection)] {
        var out: [(WireMessage, WireDirection)] = []
        out.append((hello(), .toCoordinator))
        out.append((welcome(), .toWorker))
        var r = WireReject()
        r.code = .protocolVersion
        r.message = "version 2 unsupported"
        r.supportedProtocolVersion = 1
        out.append((WireMessage(.reject(r)), .toWorker))
        var hb = WireHeartbeat()
        hb.rssBytes = 100
        hb.peakRssBytes = 200
        var p = WireProgress()
        p.taskID = 3
        p.attemptID = 7
        p.done = 5
        p.total = 13
        p.unit = .trees
        hb.running = [p]
        out.append((WireMessage(.heartbeat(hb)), .toCoordinator))
        out.append((WireMessage(.heartbeat(WireHeartbeat())), .toWorker))
        for kind in [WireTaskKind.extract, .train, .evaluate, .predict] {
            out.append((WireMessage(.assignment(assignment(kind: kind))), .toWorker))
        }
        out.append((WireMessage(.assignment(assignment(kind: .train, source: .localSpill))), .toWorker))
        var st = WireTaskStarted()
        st.taskID = 3
        st.attemptID = 7
        out.append((WireMessage(.started(st)), .toCoordinator))
        out.append((rowBatch(), .toWorker))
        out.append(
            (
                rowBatch(
                    records: (0..<17).map { "\($0),\($0),a" }, lines: (0..<17).map { UInt64($0 * 3 + 2) },
                    test: (0..<17).map { $0 % 5 == 0 }), .toWorker
            ))
        var e = WireRowsEnd()
        e.attemptID = 7
        e.batches = 1
        e.rows = 3
        e.trainRows = 2
        e.testRows = 1
        out.append((WireMessage(.rowsEnd(e)), .toWorker))
        var c = WireCredit()
        c.attemptID = 7
        c.stream = .rows
        c.grantedBatches = 4
        c.grantedBytes = 1 << 20
        out.append((WireMessage(.credit(c)), .toCoordinator))
        c.stream = .predictions
        out.append((WireMessage(.credit(c)), .toWorker))
        out.append((treesCheckpoint(), .toCoordinator))
        out.append((statsCheckpoint(), .toCoordinator))
        var ack = WireCheckpointAck()
        ack.attemptID = 7
        ack.treesStored = 6
        out.append((WireMessage(.checkpointAck(ack)), .toWorker))
        var d = WireTaskDone()
        d.taskID = 3
        d.attemptID = 7
        d.peakRssBytes = 300 << 20
        d.rows = 1000
        out.append((WireMessage(.done(d)), .toCoordinator))
        d.hasResult_p = true
        out.append((WireMessage(.done(d), payload: Data([1, 2, 3])), .toCoordinator))
        var f = WireTaskFailed()
        f.taskID = 3
        f.attemptID = 7
        f.reason = .badInput
        f.message = "bad number"
        f.line = 12
        f.column = 3
        out.append((WireMessage(.failed(f)), .toCoordinator))
        var cancel = WireCancel()
        cancel.attemptID = 7
        cancel.reason = "reassigned"
        out.append((WireMessage(.cancel(cancel)), .toWorker))
        var sd = WireShutdown()
        sd.reason = "job done"
        sd.drain = true
        out.append((WireMessage(.shutdown(sd)), .toWorker))
        var g = WireGoodbye()
        g.reason = "SIGTERM"
        out.append((WireMessage(.goodbye(g)), .toCoordinator))
        var br = WireBlobRequest()
        br.digest = digest
        br.offset = 0
        br.maxBytes = 1 << 20
        out.append((WireMessage(.blobRequest(br)), .toCoordinator))
        var bc = WireBlobChunk()
        bc.digest = digest
        bc.offset = 10
        bc.totalSize = 14
        out.append((WireMessage(.blobChunk(bc), payload: Data([1, 2, 3, 4])), .toWorker))
        var pb = WirePredictionBatch()
        pb.attemptID = 7
        pb.batchSeq = 0
        pb.firstLine = 2
        pb.rows = 3
        pb.bytesPerRow = 4
        out.append((WireMessage(.predictionBatch(pb), payload: Data(count: 12)), .toCoordinator))
        return out
    }
}
