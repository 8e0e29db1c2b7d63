import Forest
import Foundation
import SpaceTime
import Testing

@testable import Cluster

/// Pure logic of distributed prediction: block planning, the CSV block
/// index and reader, the parameter blob, the scheduler's predict stage, and
/// the worker engine's prediction credit — no processes, no sockets.
@Suite struct PredictionLogicTests {
    // MARK: Block plan

    @Test func blocksDependOnDataAndMemoryNotWorkers() {
        let mib: UInt64 = 1 << 20
        // 1M rows of 50 features, 512 MiB: about 16 blocks of ~62.5K rows (fits), multiples of the granule.
        let rows = PredictionBlockPlan.blockRows(
            totalRows: 1_000_000, features: 50, classes: 2, modelBytes: 10 * mib,
            memoryLimit: 512 * mib, granule: 1024)
        #expect(rows % 1024 == 0)
        #expect(rows == 63488)
        // A smaller limit caps the block so its rows fit the budget.
        let small = PredictionBlockPlan.blockRows(
            totalRows: 1_000_000, features: 50, classes: 2, modelBytes: 10 * mib,
            memoryLimit: 96 * mib, granule: 1024)
        let budget = Double(96 * mib - 48 * mib - 20 * mib) * 0.5
        #expect(small < rows && small % 1024 == 0)
        #expect(Double(small * PredictionBlockPlan.bytesPerRow(features: 50, classes: 2)) <= budget)
        // Tiny inputs still get at least the minimum block (one block here).
        #expect(
            PredictionBlockPlan.blockRows(
                totalRows: 3000, features: 5, classes: 2, modelBytes: 0, memoryLimit: 512 * mib,
                granule: 1024) == 4096)
        // An override is rounded up to the granule.
        #expect(
            PredictionBlockPlan.blockRows(
                totalRows: 10, features: 5, classes: 2, modelBytes: 0, memoryLimit: 0,
                granule: 100, override: 250) == 300)
    }

    @Test func blocksCoverEveryRowOnceInOrder() {
        let blocks = PredictionBlockPlan.blocks(totalRows: 10_001, blockRows: 1000)
        #expect(blocks.count == 11)
        #expect(blocks.first == 0..<1000 && blocks.last == 10_000..<10_001)
        #expect(zip(blocks, blocks.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(PredictionBlockPlan.blocks(totalRows: 0, blockRows: 10) == [0..<0])
    }

    // MARK: Index and block reader

    /// Every block read from its mark gives exactly the records (bytes and
    /// lines) a reader from the start gives: blank lines, quoted newlines,
    /// CRLF and a byte-order mark included.
    @Test func blockReadersReproduceTheFullRead() throws {
        let dir = NSTemporaryDirectory() + "st-pred-index-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = "\u{FEFF}a,b,label\r\n"
        for i in 0..<53 {
            if i % 7 == 3 { text += "\n" }
            if i % 11 == 5 { text += "\(i),\"x\ny\",c\r\n" } else { text += "\(i),\(i * 2),c\(i % 3)\n" }
        }
        let path = dir + "/in.csv"
        try text.write(toFile: path, atomically: true, encoding: .utf8)

        // The same records without the header line, read with the column names given.
        let headerless = dir + "/headerless.csv"
        try String(text.dropFirst("\u{FEFF}a,b,label\r\n".count)).write(toFile: headerless, atomically: true, encoding: .utf8)
        var named = CSVOptions()
        named.hasHeader = false
        named.columnNames = ["a", "b", "label"]

        for (file, options, records) in [(path, CSVOptions(), 53), (headerless, named, 53)] {
            let reader = try CSVReader(path: file, options: options)
            var expected: [(Int, [UInt8])] = []
            while let r = try reader.next() { expected.append((r.line, r.withRawBytes { Array($0) })) }
            reader.close()
            #expect(expected.count == records)

            for granule in [1, 4, 10] {
                let index = try CSVBlockIndex(path: file, options: options, granule: granule)
                #expect(index.rows == records)
                var got: [(Int, [UInt8])] = []
                for block in PredictionBlockPlan.blocks(totalRows: index.rows, blockRows: granule * 2) {
                    let mark = try #require(index.mark(ofRecord: block.lowerBound))
                    let r = try CSVBlockReader(path: file, mark: mark, rows: block.count, options: options)
                    while try r.next({ line, raw in got.append((line, Array(raw))) }) {}
                }
                #expect(got.count == expected.count)
                #expect(zip(got, expected).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }, "\(file), granule \(granule)")
            }
        }
    }

    @Test func indexReportsARaggedRowWithItsLine() throws {
        let dir = NSTemporaryDirectory() + "st-pred-ragged-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.csv"
        try "a,b\n1,2\n3\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { _ = try CSVBlockIndex(path: path) } throws: { error in
            "\(error)".contains("bad.csv: line 3: 1 field, header has 2")
        }
    }

    // MARK: Parameters

    @Test func parametersRoundTripAndAreChecked() throws {
        // The model's schema located in the input's header: features in model order, the label present.
        let schema = DatasetSchema(
            header: ["b", "label", "c", "a"], targetIndex: 1, task: .classification,
            featureIndices: [3, 0, 2], featureKinds: [.numeric, .categorical, .numeric])
        let p = PredictionParameters(source: "data/x.csv", schema: schema)
        #expect(try PredictionParameters(deserializing: p.serialize(), columns: 4) == p)
        #expect(p.featureIndices == [3, 0, 2])
        let unlabeled = DatasetSchema(header: ["a"], targetIndex: nil, task: .regression, featureIndices: [0], featureKinds: [.numeric])
        let none = PredictionParameters(source: "x", schema: unlabeled)
        #expect(try PredictionParameters(deserializing: none.serialize(), columns: 1) == none)
        #expect(throws: PipelineError.self) { try PredictionParameters(deserializing: p.serialize(), columns: 3) }
        #expect(throws: PipelineError.self) { try PredictionParameters(deserializing: p.serialize().dropLast(), columns: 4) }
        #expect(throws: PipelineError.self) { try PredictionParameters(deserializing: Data("STJP".utf8), columns: 4) }
        // A model's derivation: version 3, the identifier kept; without one the bytes stay version 2.
        let derived = PredictionParameters(source: "data/x.csv", schema: schema, derivation: "loan-ratios-v1")
        #expect(derived.serialize()[4] == 3 && p.serialize()[4] == 2)
        #expect(try PredictionParameters(deserializing: derived.serialize(), columns: 4) == derived)
        #expect(throws: PipelineError.self) { try PredictionParameters(deserializing: derived.serialize().dropLast(), columns: 4) }
    }

    // MARK: Scheduling

    @Test func predictTasksAreOfferedThenTheJobSaves() {
        let s = Scheduler(configuration: .init(plan: .prediction))
        let tasks = (0..<3).map { Scheduler.TaskView(name: TaskName(.predict, $0), state: .pending) }
        let workers = [Scheduler.WorkerView(id: "w1", memoryLimit: 512 << 20), Scheduler.WorkerView(id: "w2", memoryLimit: 512 << 20)]
        let plan = s.plan(tasks: tasks, workers: workers, holders: [:], gates: Scheduler.Gates(), now: 0)
        #expect(plan.stage == .predict)
        #expect(plan.assignments.map(\.task.partition) == [0, 1], "one block per worker, in input order")
        #expect(plan.assignments.allSatisfy { $0.source == .streamed })
        var done = tasks
        for i in done.indices { done[i].state = .done }
        #expect(s.stage(tasks: done, gates: Scheduler.Gates()) == .save)
    }

    /// Tree-sharded prediction keys its tasks as evaluate does: partition = block, variant =
    /// the slice's trees (`predict/pK.tA-B`); whole-model prediction keeps `predict/pK`. The
    /// scheduler offers them slice-major and `status` counts blocks, not tasks.
    @Test func shardedPredictTasksAreKeyedByBlockAndTreeSlice() throws {
        let spec = JobSpec(
            jobID: "predict-1", dataFiles: ["d.csv"], parameters: Data([1]), seed: 0, partitions: 3,
            testFraction: 0, trees: 12, maxAttempts: 3)
        let slices = [0..<4, 4..<9, 9..<12]
        let sharded = try JobStore()
        try sharded.createPredictionJob(spec, blockRows: [5, 5, 2], variants: slices.map { .trees($0) }, now: 0)
        let names = try sharded.tasks().map(\.name).sorted()
        #expect(names.map(\.description) == (0..<3).flatMap { k in slices.map { "predict/p\(k).t\($0.lowerBound)-\($0.upperBound)" } })
        #expect(names.allSatisfy { $0.kind == .predict && $0.variant.treeRange != nil })
        #expect(try sharded.partitions().map(\.testRows) == [5, 5, 2], "one partition per block, not per (block, slice)")

        let whole = try JobStore()
        try whole.createPredictionJob(spec, blockRows: [5, 5, 2], now: 0)
        #expect(try whole.tasks().map(\.name).sorted().map(\.description) == ["predict/p0", "predict/p1", "predict/p2"])
        #expect(try whole.tasks().allSatisfy { $0.name.variant == .whole })

        for bad: [TaskVariant] in [
            [.trees(0..<4), .trees(5..<12)], [.trees(4..<8), .trees(8..<12)], [.trees(0..<12)],
            [.whole, .trees(0..<4)], []
        ] {
            #expect(throws: JobStoreError.self, "\(bad)") {
                try JobStore().createPredictionJob(spec, blockRows: [1], variants: bad, now: 0)
            }
        }

        let workers = [Scheduler.WorkerView(id: "w1", memoryLimit: 512 << 20), Scheduler.WorkerView(id: "w2", memoryLimit: 512 << 20)]
        var views = names.map { Scheduler.TaskView(name: $0, state: .pending) }
        var plan = Scheduler(configuration: .init(plan: .prediction)).plan(
            tasks: views, workers: workers, holders: [:], gates: Scheduler.Gates(), now: 0)
        #expect(plan.assignments.map(\.task.description) == ["predict/p0.t0-4", "predict/p1.t0-4"], "slice-major")
        for i in views.indices where views[i].name.variant == .trees(0..<4) { views[i].state = .done }
        plan = Scheduler(configuration: .init(plan: .prediction)).plan(
            tasks: views, workers: workers, holders: [:], gates: Scheduler.Gates(), now: 0)
        #expect(plan.assignments.map(\.task.description) == ["predict/p0.t4-9", "predict/p1.t4-9"])

        let status = try JobStatus.load(from: sharded).render(now: 0)
        #expect(status.contains("blocks: 3, done 0; tasks: 9 (a task per block and tree slice), done 0"), "\(status)")
        #expect(status.contains("predict/p2.t9-12"), "\(status)")
        #expect(try JobStatus.load(from: whole).render(now: 0).contains("blocks: 3, done 0\n"))
    }

    // MARK: Worker engine: predictions under credit

    @Test func predictionsWaitForCreditAndDoneWaitsForThem() throws {
        let w = WorkerEngine(identity: WorkerEngine.Identity(workerID: "w1", host: "h", pid: 1, cores: 1, memoryLimit: 512 << 20))
        _ = w.connected(at: 0)
        _ = w.receive(frames: try WireSamples.welcome(session: 5).encodeFrames(), at: 0)
        var a = WireSamples.assignment(kind: .predict, attemptID: 9)
        a.model.ref.size = 1 << 20
        _ = w.receive(frames: try WireMessage(.assignment(a), seq: 2, session: 5).encodeFrames(), at: 0.1)
        #expect(w.runningAttempts == [9])
        func sent(_ out: [WorkerOutput]) -> [WireMessage] { out.compactMap { if case .send(let m) = $0 { m } else { nil } } }
        // No credit yet: the batch is held, and so is done.
        #expect(sent(w.predictions(attemptID: 9, firstLine: 2, rows: 4, bytesPerRow: 16, payload: Data(count: 64), at: 0.2)).isEmpty)
        #expect(sent(w.predictions(attemptID: 9, firstLine: 6, rows: 4, bytesPerRow: 16, payload: Data(count: 64), at: 0.2)).isEmpty)
        #expect(sent(w.done(attemptID: 9, rows: 8, peakRSS: 1, result: nil, elapsed: 0.1, at: 0.3)).isEmpty)
        #expect(w.runningAttempts == [9], "still listed in heartbeats while results wait")
        // Credit for one batch: the first goes.
        var c = WireCredit()
        c.attemptID = 9
        c.stream = .predictions
        c.grantedBatches = 1
        c.grantedBytes = 1 << 20
        let first = sent(w.receive(frames: try WireMessage(.credit(c), seq: 3, session: 5).encodeFrames(), at: 0.4))
        #expect(first.count == 1)
        if case .predictionBatch(let b)? = first.first?.body {
            #expect(b.batchSeq == 0 && b.firstLine == 2)
        } else {
            Issue.record("no batch")
        }
        // Credit for the second: it goes, then done.
        c.grantedBatches = 2
        let rest = sent(w.receive(frames: try WireMessage(.credit(c), seq: 4, session: 5).encodeFrames(), at: 0.5))
        #expect(rest.map(\.kind) == ["prediction_batch", "done"])
        #expect(w.runningAttempts.isEmpty)
    }
}
