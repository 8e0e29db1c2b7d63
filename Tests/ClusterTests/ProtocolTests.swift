import Foundation
import SpaceTime
import Testing

@testable import Cluster

/// Decodes, expecting a protocol error with `code`.
private func expectRejected(
    _ frames: [Data], _ direction: WireDirection, _ code: ProtocolError.Code,
    limits: ProtocolLimits = ProtocolLimits(),
    sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        let m = try WireMessage.decode(frames: frames, direction: direction, limits: limits)
        Issue.record("accepted \(m.kind), expected \(code)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    }
}

private func frames(_ m: WireMessage) throws -> [Data] { try m.encodeFrames() }

@Suite struct WireMessageTests {
    @Test func everyMessageKindRoundTrips() throws {
        let samples = WireSamples.all()
        #expect(Set(samples.map(\.0.kind)).count == 19, "one sample per body case")
        for (message, direction) in samples {
            let f = try frames(message)
            #expect(f.count == (message.payload == nil ? 1 : 2))
            let decoded = try WireMessage.decode(frames: f, direction: direction)
            #expect(decoded.envelope == message.envelope, "\(message.kind)")
            #expect(decoded.payload == message.payload, "\(message.kind)")
        }
    }

    @Test func rowBytesTravelOutsideTheHeader() throws {
        let big = String(repeating: "1.25,", count: 2000) + "a"
        let m = WireSamples.rowBatch(records: [big, big], lines: [2, 3], test: [false, false])
        let f = try frames(m)
        #expect(f[1].count == 2 * big.utf8.count)
        #expect(f[0].count < 64, "header is \(f[0].count) bytes")
    }

    @Test func wrongDirectionIsRejected() throws {
        expectRejected(try frames(WireSamples.hello()), .toWorker, .wrongDirection)
        expectRejected(try frames(WireMessage(.assignment(WireSamples.assignment()))), .toCoordinator, .wrongDirection)
        expectRejected(try frames(WireSamples.rowBatch()), .toCoordinator, .wrongDirection)
        var c = WireCredit()
        c.attemptID = 7
        c.stream = .rows
        c.grantedBatches = 1
        expectRejected(try frames(WireMessage(.credit(c))), .toWorker, .wrongDirection)
    }

    @Test func framingErrors() throws {
        expectRejected([], .toCoordinator, .frameCount)
        let h = try frames(WireSamples.hello())
        expectRejected(h + [Data(), Data()], .toCoordinator, .frameCount)
        expectRejected([Data([0xFF, 0xFF, 0xFF, 0xFF])], .toCoordinator, .malformedHeader)
        expectRejected([Data()], .toCoordinator, .missingBody)
        var small = ProtocolLimits()
        small.maxHeaderBytes = 8
        expectRejected(h, .toCoordinator, .tooLarge, limits: small)
        small = ProtocolLimits()
        small.maxPayloadBytes = 4
        expectRejected(try frames(WireSamples.rowBatch()), .toWorker, .tooLarge, limits: small)
        expectRejected(h + [Data([1])], .toCoordinator, .payloadMismatch)
    }

    @Test func unknownBodyFromNewerProtocolIsMissingBody() {
        // field 99, varint 1: an envelope body this version does not know
        expectRejected([Data([0x08, 0x01, 0x98, 0x06, 0x01])], .toCoordinator, .missingBody)
    }

    @Test func helloChecks() throws {
        expectRejected(try frames(WireSamples.hello(version: 2)), .toCoordinator, .versionMismatch)
        func mutated(_ change: (inout WireHello) -> Void) throws -> [Data] {
            var m = WireSamples.hello()
            guard case .hello(var h) = m.body else { return [] }
            change(&h)
            m.envelope.body = .hello(h)
            return try frames(m)
        }
        expectRejected(try mutated { $0.workerID = "" }, .toCoordinator, .missingField)
        expectRejected(try mutated { $0.workerID = "w 1;rm" }, .toCoordinator, .outOfRange)
        expectRejected(try mutated { $0.workerID = String(repeating: "w", count: 129) }, .toCoordinator, .tooLarge)
        expectRejected(try mutated { $0.pid = 0 }, .toCoordinator, .missingField)
        expectRejected(try mutated { $0.cores = 0 }, .toCoordinator, .outOfRange)
        expectRejected(try mutated { $0.memoryLimitBytes = 0 }, .toCoordinator, .missingField)
        expectRejected(try mutated { $0.host = String(repeating: "h", count: 256) }, .toCoordinator, .tooLarge)
    }

    @Test func assignmentChecks() throws {
        func rejected(
            _ code: ProtocolError.Code, _ change: (inout WireTaskAssignment) -> Void,
            sourceLocation: SourceLocation = #_sourceLocation
        ) throws {
            var a = WireSamples.assignment()
            change(&a)
            expectRejected(try frames(WireMessage(.assignment(a))), .toWorker, code, sourceLocation: sourceLocation)
        }
        try rejected(.invalidEnum) { $0.kind = .unspecified }
        try rejected(.invalidEnum) { $0.kind = .UNRECOGNIZED(99) }
        try rejected(.invalidEnum) { $0.source = .unspecified }
        try rejected(.missingField) { $0.attemptID = 0 }
        try rejected(.outOfRange) { $0.leaseMs = 5 }
        try rejected(.missingField) { $0.clearTrees() }
        try rejected(.outOfRange) { $0.trees.first = 13 }
        try rejected(.outOfRange) { $0.trees.end = 14 }
        try rejected(.missingField) { $0.checkpointEvery = 0 }
        try rejected(.missingField) { $0.clearExtractor() }
        try rejected(.missingField) { $0.clearSchema() }
        try rejected(.outOfRange) { $0.schema.labelColumn = 3 }
        try rejected(.outOfRange) { $0.schema.delimiter = 0x22 }
        try rejected(.missingField) {
            $0.source = .localSpill
            $0.spillAttemptID = 0
        }
        try rejected(.tooLarge) { $0.extractor.inline = Data(count: (512 << 10) + 1) }
        var eval = WireSamples.assignment(kind: .evaluate)
        eval.clearModel()
        expectRejected(try frames(WireMessage(.assignment(eval))), .toWorker, .missingField)
        eval = WireSamples.assignment(kind: .evaluate)
        eval.model.ref.digest = Data(count: 31)
        expectRejected(try frames(WireMessage(.assignment(eval))), .toWorker, .outOfRange)
        var extract = WireSamples.assignment(kind: .extract)
        extract.trees = WireTreeRange()
        expectRejected(try frames(WireMessage(.assignment(extract))), .toWorker, .outOfRange)
    }

    @Test func assignmentVariantChecks() throws {
        func variant(_ first: UInt32, _ end: UInt32) -> WireTaskVariant {
            var r = WireTreeRange()
            r.first = first
            r.end = end
            var v = WireTaskVariant()
            v.trees = r
            return v
        }
        func rejected(
            _ code: ProtocolError.Code, kind: WireTaskKind = .train, _ change: (inout WireTaskAssignment) -> Void,
            sourceLocation: SourceLocation = #_sourceLocation
        ) throws {
            var a = WireSamples.assignment(kind: kind)
            change(&a)
            expectRejected(try frames(WireMessage(.assignment(a))), .toWorker, code, sourceLocation: sourceLocation)
        }
        // The sample builds trees 4..<13 of a 13-tree share.
        var ok = WireSamples.assignment()
        ok.variant = variant(2, 13)
        try MessageValidator(limits: ProtocolLimits()).validate(WireMessage(.assignment(ok)), direction: .toWorker)
        #expect(TaskVariant(wire: ok.variant) == .trees(2..<13))
        ok.variant = WireTaskVariant()
        ok.variant.whole = true
        try MessageValidator(limits: ProtocolLimits()).validate(WireMessage(.assignment(ok)), direction: .toWorker)
        #expect(TaskVariant(wire: ok.variant) == .whole)
        #expect(TaskVariant(wire: nil) == .whole)
        try rejected(.outOfRange) { $0.variant = variant(5, 13) }  // resumes before its range
        try rejected(.outOfRange) { $0.variant = variant(0, 12) }  // builds past its range
        try rejected(.outOfRange) { $0.variant = variant(4, 14) }  // beyond the partition's share
        try rejected(.outOfRange) { $0.variant = variant(7, 7) }  // empty
        try rejected(.missingField) { $0.variant = WireTaskVariant() }
        try rejected(.outOfRange) {
            $0.variant = WireTaskVariant()
            $0.variant.whole = false
        }
        // Evaluate and predict tasks take a tree slice of the model (tree-sharded scoring), never an empty one;
        // extract tasks build and score no trees.
        for kind in [WireTaskKind.evaluate, .predict] {
            var slice = WireSamples.assignment(kind: kind)
            slice.variant = variant(0, 4)
            try MessageValidator(limits: ProtocolLimits()).validate(WireMessage(.assignment(slice)), direction: .toWorker)
            try rejected(.outOfRange, kind: kind) { $0.variant = variant(4, 4) }
            try rejected(.outOfRange, kind: kind) { $0.variant = variant(5, 4) }
            try rejected(.missingField, kind: kind) { $0.variant = WireTaskVariant() }
        }
        try rejected(.outOfRange, kind: .extract) { $0.variant = variant(0, 4) }

        // A cross-validation task: fold 1 (0-based) of trees 4..<13; train resumes within it, evaluate scores the fold.
        func fold(_ k: UInt32, _ first: UInt32, _ end: UInt32) -> WireTaskVariant {
            var f = WireFoldTrees()
            f.fold = k
            f.trees.first = first
            f.trees.end = end
            var v = WireTaskVariant()
            v.fold = f
            return v
        }
        for kind in [WireTaskKind.train, .evaluate] {
            var folded = WireSamples.assignment(kind: kind)
            folded.variant = fold(1, 4, 13)
            try MessageValidator(limits: ProtocolLimits()).validate(WireMessage(.assignment(folded)), direction: .toWorker)
            #expect(TaskVariant(wire: folded.variant) == .fold(1, trees: 4..<13))
            #expect(TaskVariant.fold(1, trees: 4..<13).wire == folded.variant)
            let gridded = TaskVariant.fold(1, trees: 4..<13, point: 2)
            #expect(gridded.wire?.fold.point == 2 && TaskVariant(wire: gridded.wire) == gridded)
            try rejected(.outOfRange, kind: kind) { $0.variant = fold(1, 5, 5) }
        }
        try rejected(.outOfRange) { $0.variant = fold(0, 5, 13) }  // resumes before its range
        try rejected(.outOfRange) { $0.variant = fold(0, 4, 14) }  // beyond the partition's share
        try rejected(.outOfRange, kind: .extract) { $0.variant = fold(0, 0, 4) }
        try rejected(.outOfRange, kind: .predict) { $0.variant = fold(0, 0, 4) }
    }

    @Test func rowBatchHeaderMustAgreeWithPayload() throws {
        var m = WireSamples.rowBatch()
        m.payload!.append(0x41)
        expectRejected(try frames(m), .toWorker, .payloadMismatch)

        m = WireSamples.rowBatch()
        m.payload = nil
        expectRejected(try frames(m), .toWorker, .payloadMismatch)

        func mutated(_ change: (inout WireRowBatch) -> Void) throws -> [Data] {
            var m = WireSamples.rowBatch()
            guard case .rowBatch(var b) = m.body else { return [] }
            change(&b)
            m.envelope.body = .rowBatch(b)
            return try frames(m)
        }
        expectRejected(try mutated { $0.lineDeltas.removeLast() }, .toWorker, .payloadMismatch)
        expectRejected(try mutated { $0.lineDeltas[0] = 0 }, .toWorker, .outOfRange)
        expectRejected(try mutated { $0.firstLine = 0 }, .toWorker, .missingField)
        expectRejected(try mutated { $0.testMask = Data() }, .toWorker, .payloadMismatch)
        expectRejected(try mutated { $0.testMask = Data([0x08]) }, .toWorker, .outOfRange)  // bit 3 of 3 rows
        expectRejected(try mutated { $0.firstLine = UInt64.max - 1 }, .toWorker, .outOfRange)
        // A cross-validation batch carries one fold byte per record, or none.
        _ = try WireMessage.decode(frames: try mutated { $0.folds = Data([0, 2, 1]) }, direction: .toWorker, limits: ProtocolLimits())
        expectRejected(try mutated { $0.folds = Data([0, 2]) }, .toWorker, .payloadMismatch)
        var tooMany = ProtocolLimits()
        tooMany.maxRowsPerBatch = 2
        expectRejected(try frames(WireSamples.rowBatch()), .toWorker, .outOfRange, limits: tooMany)
    }

    @Test func checkpointChecks() throws {
        var m = WireSamples.treesCheckpoint()
        m.payload!.removeLast()
        expectRejected(try frames(m), .toCoordinator, .payloadMismatch)
        m = WireSamples.treesCheckpoint(trees: [Data([1]), Data()])
        expectRejected(try frames(m), .toCoordinator, .outOfRange)
        m = WireSamples.treesCheckpoint(first: UInt32.max)
        expectRejected(try frames(m), .toCoordinator, .outOfRange)

        func stats(_ change: (inout WireCheckpoint.ExtractStats) -> Void) throws -> [Data] {
            var m = WireSamples.statsCheckpoint()
            guard case .checkpoint(var c) = m.body, case .stats(var s) = c.content else { return [] }
            change(&s)
            c.stats = s
            m.envelope.body = .checkpoint(c)
            return try frames(m)
        }
        expectRejected(try stats { $0.rows = 11 }, .toCoordinator, .outOfRange)
        expectRejected(try stats { $0.trainClassCounts = [5, 4] }, .toCoordinator, .outOfRange)
        expectRejected(try stats { $0.testClassCounts = [2] }, .toCoordinator, .payloadMismatch)
        expectRejected(try stats { $0.trainClassCounts = [UInt64.max, 9] }, .toCoordinator, .outOfRange)
        var noContent = WireCheckpoint()
        noContent.taskID = 1
        noContent.attemptID = 1
        expectRejected(try frames(WireMessage(.checkpoint(noContent), payload: Data([1]))), .toCoordinator, .missingField)
    }

    @Test func otherBodyChecks() throws {
        var d = WireTaskDone()
        d.taskID = 3
        d.attemptID = 7
        d.hasResult_p = true
        expectRejected(try frames(WireMessage(.done(d))), .toCoordinator, .payloadMismatch)
        var f = WireTaskFailed()
        f.taskID = 3
        f.attemptID = 7
        f.message = "x"
        expectRejected(try frames(WireMessage(.failed(f))), .toCoordinator, .invalidEnum)
        f.reason = .io
        f.message = String(repeating: "x", count: 4097)
        expectRejected(try frames(WireMessage(.failed(f))), .toCoordinator, .tooLarge)
        var bc = WireBlobChunk()
        bc.digest = WireSamples.digest
        bc.offset = 12
        bc.totalSize = 14
        expectRejected(try frames(WireMessage(.blobChunk(bc), payload: Data(count: 3))), .toWorker, .outOfRange)
        bc.offset = UInt64.max
        expectRejected(try frames(WireMessage(.blobChunk(bc), payload: Data(count: 3))), .toWorker, .outOfRange)
        var pb = WirePredictionBatch()
        pb.attemptID = 7
        pb.rows = 3
        pb.bytesPerRow = 4
        expectRejected(try frames(WireMessage(.predictionBatch(pb), payload: Data(count: 11))), .toCoordinator, .payloadMismatch)
        var hb = WireHeartbeat()
        hb.rssBytes = 10
        hb.peakRssBytes = 5
        expectRejected(try frames(WireMessage(.heartbeat(hb))), .toCoordinator, .outOfRange)
        var e = WireRowsEnd()
        e.attemptID = 7
        e.rows = UInt64.max
        e.trainRows = UInt64.max
        e.testRows = 1
        expectRejected(try frames(WireMessage(.rowsEnd(e))), .toWorker, .outOfRange)
        var w = WireSamples.welcome()
        guard case .welcome(var wb) = w.body else { return }
        wb.session = 0
        w.envelope.body = .welcome(wb)
        expectRejected(try frames(w), .toWorker, .missingField)
    }

    @Test func errorDescriptionNamesPeerMessageAndField() {
        let e = ProtocolError(
            .staleAttempt, "attempt 9 is not leased", messageKind: "done", field: "attempt_id",
            attemptID: 9
        ).from(peer: "w2 (10.0.0.3)")
        #expect(e.description == "protocol error [staleAttempt] from w2 (10.0.0.3) in done.attempt_id (attempt 9): attempt 9 is not leased")
    }

    /// Seeded random inputs: random bytes, and valid messages with random
    /// bytes flipped, truncated or extended. Nothing may crash; every failure
    /// must be a `ProtocolError` (typed throws guarantee the type).
    @Test func randomAndMutatedInputsNeverCrash() throws {
        var rng = SplitMix64(seed: 0x5EED)
        let seeds = try WireSamples.all().map { (try $0.0.encodeFrames(), $0.1) }
        var accepted = 0
        var rejected = 0
        let count = ProcessInfo.processInfo.environment["SPACETIME_FUZZ_INPUTS"].flatMap(Int.init) ?? 30_000
        for i in 0..<count {
            var input: [Data]
            var direction: WireDirection = rng.next() & 1 == 0 ? .toWorker : .toCoordinator
            if i % 3 == 0 {
                let n = Int(rng.next() % 3) + (i % 7 == 0 ? 0 : 1)
                input = (0..<n).map { _ in Data((0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }) }
            } else {
                let (f, d) = seeds[Int(rng.next() % UInt64(seeds.count))]
                input = f
                direction = d
                let frame = Int(rng.next() % UInt64(input.count))
                var bytes = input[frame]
                switch rng.next() % 4 {
                case 0 where !bytes.isEmpty:
                    for _ in 0...(rng.next() % 3) {
                        let at = Int(rng.next() % UInt64(bytes.count))
                        bytes[bytes.startIndex + at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                    }
                case 1 where !bytes.isEmpty:
                    bytes = bytes.prefix(Int(rng.next() % UInt64(bytes.count)))
                case 2:
                    bytes.append(contentsOf: (0..<Int(rng.next() % 8 + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
                default:
                    if input.count == 2 { input.removeLast() } else { input.append(Data([1, 2])) }
                }
                if frame < input.count { input[frame] = bytes }
            }
            do {
                _ = try WireMessage.decode(frames: input, direction: direction)
                accepted += 1
            } catch {
                rejected += 1
            }
        }
        #expect(rejected > count / 2, "most garbage is rejected (\(rejected) of \(count))")
        #expect(accepted > 0, "some mutations stay valid (\(accepted))")
    }
}

/// The worker engine's edge: a validated `WireTaskAssignment` becomes a ``TaskAssignment``,
/// and a value without a domain meaning is refused naming its field.
@Suite struct TaskAssignmentConversionTests {
    @Test func aValidAssignmentConvertsFieldForField() throws {
        var w = WireSamples.assignment(kind: .train, source: .localSpill)
        w.variant = try #require(TaskVariant.fold(2, trees: 4..<13, point: 1).wire)
        w.classes = 6
        w.expectedTrainRows = 900
        w.expectedTreeBytes = 4096
        let a = try TaskAssignment(wire: w)
        #expect(a.kind == .train && a.partition == 2 && a.attemptID == 7 && a.taskID == 3 && a.jobID == "job-1")
        #expect(a.variant == .fold(2, trees: 4..<13, point: 1))
        #expect(a.trees == 4..<13 && a.treesInPartition == 13 && a.checkpointEvery == 1)
        #expect(a.source == .localSpill && a.spillAttemptID == 5)
        #expect(a.histogramWordsPerBin == 6 && a.expectedTrainRows == 900 && a.expectedTreeBytes == 4096)
        #expect(a.schema == TaskAssignment.CSVSchema(headerRecord: Data("f0,f1,label".utf8), labelColumn: 2, delimiter: 44, columnCount: 3))
        #expect(a.blob == .inline(Data([9, 9, 9])) && a.taskName == "train/p2.g2.f3.t4-13")
        #expect(!a.keepsStreamedRowsAsCopy, "a local-spill task reads the spill itself")
        var streamed = a
        streamed.source = .streamed
        #expect(streamed.keepsStreamedRowsAsCopy)
        #expect(try TaskAssignment(wire: WireSamples.assignment(kind: .extract)).blob == nil)
    }

    @Test func valuesWithoutADomainMeaningAreRefused() {
        func refused(_ field: String, _ change: (inout WireTaskAssignment) -> Void) {
            var w = WireSamples.assignment(kind: .train)
            change(&w)
            #expect(throws: ProtocolError.self) { try TaskAssignment(wire: w) }
            do { _ = try TaskAssignment(wire: w) } catch { #expect(error.field == field, "\(error)") }
        }
        refused("kind") { $0.kind = .unspecified }
        refused("source") { $0.source = .unspecified }
        refused("trees") {
            $0.trees.first = 9
            $0.trees.end = 3
        }
        refused("variant") { $0.variant.trees = WireTreeRange() }  // an empty tree range
    }
}
