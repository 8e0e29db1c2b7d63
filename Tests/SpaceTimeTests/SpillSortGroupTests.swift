import Foundation
import Testing

@testable import SpaceTime

@Suite struct SpillableArrayTests {
    /// Property: random appends and random reads agree with a plain array; spilling happened.
    @Test func equalsPlainArray() throws {
        let dir = try SpillDirectory(base: NSTemporaryDirectory())
        defer { dir.remove() }
        var rng = SeededRandom(seed: 5)
        for trial in 0..<6 {
            let a = SpillableArray<Double>(memoryLimit: 64 << 10, directory: dir, blockBytes: 4096)
            var plain: [Double] = []
            let n = [0, 1, 100, 10_000, 50_000, 123_457][trial]
            for _ in 0..<n {
                let v = Double(Int.random(in: -1_000_000...1_000_000, using: &rng)) / 7
                try a.append(v)
                plain.append(v)
                if Int.random(in: 0..<1000, using: &rng) == 0 && !plain.isEmpty {
                    let i = Int.random(in: 0..<plain.count, using: &rng)
                    #expect(try a.element(at: i) == plain[i])
                }
            }
            #expect(a.count == n)
            for _ in 0..<min(n, 2000) {
                let i = Int.random(in: 0..<n, using: &rng)
                #expect(try a.element(at: i) == plain[i])
            }
            #expect(try a.toArray() == plain)
            if n >= 50_000 { #expect(a.spilledCount > 0 && a.spilledBytes > 0) }
            a.close()
        }
    }

    @Test func explicitSpillAndBudget() throws {
        let dir = try SpillDirectory(base: NSTemporaryDirectory())
        defer { dir.remove() }
        let budget = MemoryBudget(limitBytes: 1 << 20)
        let a = SpillableArray<Int32>(memoryLimit: 256 << 10, directory: dir, blockBytes: 4096, budget: budget)
        #expect(budget.reserved == 256 << 10)
        for i in 0..<1000 { try a.append(Int32(i)) }
        #expect(a.spilledCount == 0)
        try a.spill()
        #expect(a.spilledCount == 1000)
        for i in 1000..<1500 { try a.append(Int32(i)) }
        #expect(try a.toArray() == (0..<1500).map { Int32($0) })
        #expect(try a.element(at: 999) == 999)
        #expect(try a.element(at: 1200) == 1200)
        a.close()
        #expect(budget.reserved == 0)
        let r = SpillableRecordArray(memoryLimit: 64 << 10, directory: dir)
        try r.append(Array("x".utf8))
        try r.spill()
        try r.append(Array("yz".utf8))
        #expect(r.spilledCount == 1)
        #expect(try r.record(at: 0) == Array("x".utf8))
        #expect(try r.record(at: 1) == Array("yz".utf8))
    }

    @Test func recordArrayEqualsPlainArray() throws {
        let dir = try SpillDirectory(base: NSTemporaryDirectory())
        defer { dir.remove() }
        var rng = SeededRandom(seed: 6)
        let a = SpillableRecordArray(memoryLimit: 32 << 10, directory: dir, blockBytes: 2048)
        var plain: [[UInt8]] = []
        for _ in 0..<5000 {
            let r = (0..<Int.random(in: 0...(Int.random(in: 0..<50, using: &rng) == 0 ? 5000 : 40), using: &rng)).map { _ in
                UInt8.random(in: 0...255, using: &rng)
            }
            try a.append(r)
            plain.append(r)
        }
        #expect(a.spilledCount > 0)
        for _ in 0..<1000 {
            let i = Int.random(in: 0..<plain.count, using: &rng)
            #expect(try a.record(at: i) == plain[i])
        }
        var all: [[UInt8]] = []
        try a.forEach { all.append(Array($0)) }
        #expect(all == plain)
    }

    @Test func spillFilesRemovedOnCloseAndStaleDirectoriesCleaned() throws {
        let base = NSTemporaryDirectory() + "spill-base-\(getpid())-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let dir = try SpillDirectory(base: base)
        let a = SpillableArray<Int>(memoryLimit: 8192, directory: dir, blockBytes: 4096)
        for i in 0..<100_000 { try a.append(i) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).count == 1)
        a.close()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        // A directory left by a dead process (pid 2^22 + 1 does not exist) is stale; ours is not.
        let stale = base + "/spacetime-spill-4194305-12345-1"
        try FileManager.default.createDirectory(atPath: stale + "/sub", withIntermediateDirectories: true)
        let removed = SpillDirectory.removeStale(in: base)
        #expect(removed == [stale])
        #expect(FileManager.default.fileExists(atPath: dir.path))
        // A live pid with a different start time (pid reuse) is stale too.
        let reused = base + "/spacetime-spill-\(getpid())-1-9"
        try FileManager.default.createDirectory(atPath: reused, withIntermediateDirectories: true)
        #expect(SpillDirectory.removeStale(in: base) == [reused])
        dir.remove()
        #expect(!FileManager.default.fileExists(atPath: dir.path))
        #expect(!FileManager.default.fileExists(atPath: dir.path + ".lock"))
    }

    /// The owner's lock, not its pid, decides: a directory whose pid is not visible here (another
    /// pid namespace) survives the sweep while its lock is held, and goes once it is released.
    @Test func aLockedDirectoryOfAnInvisiblePidSurvivesTheSweep() throws {
        let base = NSTemporaryDirectory() + "spill-lock-\(getpid())-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let ours = try SpillDirectory(base: base)
        #expect(FileManager.default.fileExists(atPath: ours.path + ".lock"))
        let foreign = base + "/spacetime-spill-4194305-12345-1"
        try FileManager.default.createDirectory(atPath: foreign + "/sub", withIntermediateDirectories: true)
        // Held through its own open file description, as another process would hold it.
        let fd = open(foreign + ".lock", O_RDWR | O_CREAT, 0o600)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        #expect(SpillDirectory.removeStale(in: base).isEmpty)
        #expect(FileManager.default.fileExists(atPath: foreign + "/sub"))
        #expect(FileManager.default.fileExists(atPath: ours.path))
        close(fd)  // the owner died
        #expect(SpillDirectory.removeStale(in: base) == [foreign])
        #expect(!FileManager.default.fileExists(atPath: foreign + ".lock"))
        // A lock file without its directory (owner killed before mkdir) is swept once unheld.
        let orphan = base + "/spacetime-spill-4194306-1-1.lock"
        #expect(FileManager.default.createFile(atPath: orphan, contents: nil))
        _ = SpillDirectory.removeStale(in: base)
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: ours.path))
        ours.remove()
    }
}

@Suite struct ExternalSortTests {
    /// Property: external sort equals a stable `sorted()` for sizes from 0 to many runs, with
    /// duplicate-heavy keys, including multi-pass merges (small fan-in).
    @Test(arguments: [(0, 3), (1, 3), (500, 3), (20_000, 3), (60_000, 1_000_000), (60_000, 4)])
    func equalsStableSorted(n: Int, distinctKeys: Int) throws {
        let dir = try SpillDirectory(base: NSTemporaryDirectory())
        defer { dir.remove() }
        var rng = SeededRandom(seed: UInt64(n * 31 + distinctKeys))
        let keys = (0..<n).map { _ in Int.random(in: 0..<distinctKeys, using: &rng) - distinctKeys / 2 }
        let sorter = ExternalSorter(memoryLimit: 256 << 10, directory: dir, fanIn: 4, blockBytes: 4096)
        for (i, k) in keys.enumerated() {
            try sorter.append(key: withUnsafeBytes(of: k.sortKey) { Array($0) }, value: withUnsafeBytes(of: i) { Array($0) })
        }
        let out = try sorter.finish()
        var got: [(Int, Int)] = []
        while let (_, v) = try out.next() {
            let i = v.loadUnaligned(as: Int.self)
            got.append((keys[i], i))
        }
        var expected: [(Int, Int)] = []
        for (i, k) in keys.enumerated() { expected.append((k, i)) }
        expected.sort { (a: (Int, Int), b: (Int, Int)) -> Bool in a.0 < b.0 || (a.0 == b.0 && a.1 < b.1) }
        #expect(got.count == expected.count)
        let same = got.elementsEqual(expected) { (a: (Int, Int), b: (Int, Int)) -> Bool in a.0 == b.0 && a.1 == b.1 }
        #expect(same)
        if n >= 20_000 { #expect(sorter.runsWritten >= 3) }
        if n >= 60_000 { #expect(sorter.runsWritten > 4 && sorter.intermediatePasses >= 1) }
    }

    @Test func writesSortedValuesToAFile() throws {
        let dir = try SpillDirectory(base: NSTemporaryDirectory())
        defer { dir.remove() }
        let sorter = ExternalSorter(memoryLimit: 1 << 20, directory: dir)
        for w in ["pear", "apple", "fig", "apple"] { try sorter.append(key: Array(w.utf8), value: Array((w + "!").utf8)) }
        let out = dir.path + "/../sorted-\(getpid()).txt"
        defer { try? FileManager.default.removeItem(atPath: out) }
        #expect(try sorter.finish().writeValues(to: out, header: Array("fruit\n".utf8)) == 4)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "fruit\napple!\napple!\nfig!\npear!\n")
    }

    @Test func variableLengthKeysAndDoubles() throws {
        let dir = try SpillDirectory(base: NSTemporaryDirectory())
        defer { dir.remove() }
        var rng = SeededRandom(seed: 9)
        let words = (0..<30_000).map { _ in String((0..<Int.random(in: 0...8, using: &rng)).map { _ in "abz".randomElement(using: &rng)! })
        }
        let sorter = ExternalSorter(memoryLimit: 128 << 10, directory: dir, fanIn: 3, blockBytes: 4096)
        for w in words { try sorter.append(key: Array(w.utf8), value: []) }
        let out = try sorter.finish()
        var got: [String] = []
        while let (k, _) = try out.next() { got.append(String(decoding: k, as: UTF8.self)) }
        #expect(got == words.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })

        let doubles =
            (0..<40_000).map { i -> Double in i % 97 == 0 ? .nan : (i % 89 == 0 ? -0.0 : Double.random(in: -1e6...1e6, using: &rng)) } + [
                .infinity, -.infinity
            ]
        let sorted = try externalSort(doubles, memoryLimit: 128 << 10, directory: dir)
        let gotD = try sorted.toArray()
        let finite = doubles.filter { !$0.isNaN }.sorted()
        #expect(gotD.count == doubles.count)
        #expect(Array(gotD.prefix(finite.count)) == finite)
        let tailIsNaN = gotD.suffix(doubles.count - finite.count).allSatisfy { $0.isNaN }
        #expect(tailIsNaN)
    }
}

@Suite struct ExternalGroupByTests {
    /// Property: external group-by equals `Dictionary(grouping:)`, with spills and re-splits.
    @Test(arguments: [10, 5_000, 40_000])
    func equalsDictionaryGrouping(distinct: Int) throws {
        let dir = try SpillDirectory(base: NSTemporaryDirectory())
        defer { dir.remove() }
        var rng = SeededRandom(seed: UInt64(distinct))
        let pairs = (0..<60_000).map { _ in
            ("k\(Int.random(in: 0..<distinct, using: &rng))", Double(Int.random(in: -100...100, using: &rng)))
        }
        let g = ExternalGroupBy<RunningStatistics>(memoryLimit: 64 << 10, directory: dir, partitions: 4)
        for (k, v) in pairs { try g.add(key: k, v) }
        var got: [String: RunningStatistics] = [:]
        try g.finish { k, a in
            let key = String(decoding: k, as: UTF8.self)
            #expect(got[key] == nil, "group emitted twice")
            got[key] = a
        }
        let expected = Dictionary(grouping: pairs, by: \.0).mapValues { $0.map(\.1) }
        #expect(got.count == expected.count)
        for (k, vs) in expected {
            let a = try #require(got[k])
            #expect(a.count == vs.count && a.min == vs.min()! && a.max == vs.max()!)
            let mean = vs.reduce(0, +) / Double(vs.count)
            #expect(abs(a.mean - mean) <= 1e-9 * max(1, abs(mean)))
        }
        if distinct >= 5_000 { #expect(g.spills > 0) }
    }

    @Test func countsAndStatisticsMerge() {
        var a = RunningStatistics()
        var b = RunningStatistics()
        var all = RunningStatistics()
        let xs = (0..<1000).map { Double($0 % 37) * 1.5 - 3 }
        for (i, x) in xs.enumerated() {
            if i < 300 { a.add(x) } else { b.add(x) }
            all.add(x)
        }
        a.add(.nan)
        a.merge(b)
        #expect(a.count == 1000 && a.missing == 1)
        #expect(abs(a.mean - all.mean) < 1e-12 && abs(a.variance - all.variance) < 1e-9)
        var bytes: [UInt8] = []
        a.encode(into: &bytes)
        #expect(bytes.withUnsafeBytes { try? RunningStatistics(decoding: $0) } == a)
    }
}

@Suite struct ReservoirTests {
    @Test func algorithmLIsUniformAndDeterministic() {
        var hits = [Int](repeating: 0, count: 1000)
        for seed in 0..<400 {
            var r = ReservoirSampler<Int>(capacity: 50, seed: UInt64(seed))
            for i in 0..<1000 { r.offer(i) }
            #expect(r.items.count == 50 && Set(r.items).count == 50 && r.seen == 1000)
            for i in r.items { hits[i] += 1 }
        }
        // Each item is kept with probability 0.05: 20 expected hits per item over 400 runs.
        let firstHalf = hits[0..<500].reduce(0, +)
        let secondHalf = hits[500...].reduce(0, +)
        #expect(abs(firstHalf - secondHalf) < 1200)
        #expect(hits.max()! < 50)
        var a = ReservoirSampler<Int>(capacity: 10, seed: 3)
        var b = ReservoirSampler<Int>(capacity: 10, seed: 3)
        for i in 0..<100_000 {
            a.offer(i)
            b.offer(i)
        }
        #expect(a.items == b.items)
        var small = ReservoirSampler<Int>(capacity: 10, seed: 1)
        for i in 0..<4 { small.offer(i) }
        #expect(small.items == [0, 1, 2, 3])
    }

    @Test func stratifiedReservoirKeepsEveryClass() {
        var s = StratifiedReservoirSampler<Int>(perClass: 20, seed: 1)
        for i in 0..<10_000 { s.offer(classKey: i % 100 == 0 ? "rare" : "common", i) }
        let samples = s.samples
        #expect(samples["rare"]!.items.count == 20 && samples["rare"]!.seen == 100)
        #expect(samples["common"]!.items.count == 20 && samples["common"]!.items.allSatisfy { $0 % 100 != 0 })
    }
}
