import Foundation
import Testing

@testable import SpaceTime

@Suite struct MemorySizeTests {
    @Test func parsesUnits() throws {
        #expect(try MemorySize(parsing: "512MB").bytes == 512_000_000)
        #expect(try MemorySize(parsing: "512MiB").bytes == 512 << 20)
        #expect(try MemorySize(parsing: "2GiB").bytes == 2 << 30)
        #expect(try MemorySize(parsing: "1.5GB").bytes == 1_500_000_000)
        #expect(try MemorySize(parsing: "1048576").bytes == 1_048_576)
        #expect(try MemorySize(parsing: "64 kib").bytes == 65_536)
        #expect(try MemorySize(parsing: "10k").bytes == 10_000)
        for bad in ["", "MB", "12XB", "-5MB", "1.5", "5 MiB extra", "1e9", "abc", "99999999999TiB"] {
            #expect(throws: MemorySizeError.self, "\(bad)") { _ = try MemorySize(parsing: bad) }
        }
        #expect(MemorySizeError(text: "12XB").description.contains("512MiB"))
        #expect(MemorySize(bytes: 64 << 20).description == "64 MiB")
        #expect(MemorySize(bytes: 1536 << 20).description == "1.5 GiB")
    }

    @Test func budgetReservations() {
        let b = MemoryBudget(limit: MemorySize(bytes: 1000))
        #expect(b.tryReserve(600))
        #expect(!b.tryReserve(500))
        #expect(b.available == 400)
        b.release(600)
        #expect(b.tryReserve(1000) && b.peakReserved == 1000)
    }

    @Test func pressureLevels() {
        #expect(MemoryPressure.classify(used: 10, limit: 100) == .normal)
        #expect(MemoryPressure.classify(used: 80, limit: 100) == .high)
        #expect(MemoryPressure.classify(used: 99, limit: 100) == .critical)
        #expect(MemoryPressure.classify(used: 99, limit: 0) == .normal)
    }

    @Test func parsesProcStatusAndSamplesSelf() {
        let s = MemorySample.parseStatus("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nRssAnon:\t   512 kB\n")
        #expect(s == MemorySample(rssAnon: 512 << 10, rss: 1 << 20, peakRSS: 2 << 20))
        let me = MemorySample.current()
        #expect(me.rss > 0 && me.peakRSS >= me.rss && me.rssAnon > 0)
    }

    @Test func monitorCallsHandlersUnderPressure() {
        let m = MemoryMonitor(limit: MemorySize(bytes: 1 << 20))  // far below this process's RSS
        final class Box: @unchecked Sendable { var levels: [MemoryPressure] = [] }
        let box = Box()
        m.onPressure { level, _ in box.levels.append(level) }
        #expect(m.check() == .critical)
        #expect(box.levels == [.critical])
        let relaxed = MemoryMonitor(limit: .gibibytes(1024))
        #expect(relaxed.check() == .normal)
    }

    @Test func backgroundMonitorPolls() async throws {
        let m = MemoryMonitor(limit: MemorySize(bytes: 1 << 20))
        final class Box: @unchecked Sendable {
            private var lock = NSLock()
            private var n = 0
            func hit() {
                lock.lock()
                n += 1
                lock.unlock()
            }
            var count: Int {
                lock.lock()
                defer { lock.unlock() }
                return n
            }
        }
        let box = Box()
        m.onPressure { _, sample in if sample.rssAnon > 0 { box.hit() } }
        m.start(interval: 0.01)
        // Wait for the condition (up to 20 s on a loaded machine), not a fixed number of sleeps.
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while box.count < 3 && ContinuousClock.now < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        m.stop()
        #expect(box.count >= 3)
        // stop() waits for the poller: no handler runs after it returns, and a restart runs one poller.
        let afterStop = box.count
        usleep(100_000)
        #expect(box.count == afterStop)
        m.start(interval: 0.01)
        m.start(interval: 0.01)
        let restarted = ContinuousClock.now.advanced(by: .seconds(20))
        while box.count < afterStop + 2 && ContinuousClock.now < restarted { try await Task.sleep(nanoseconds: 10_000_000) }
        m.stop()
        let final = box.count
        #expect(final >= afterStop + 2)
        usleep(100_000)
        #expect(box.count == final)
    }

    @Test func profileMeasuresAllocation() {
        let (sum, report) = profile("alloc") { () -> Int in
            var a = [UInt8](repeating: 1, count: 64 << 20)
            a[12345] = 2
            return a.reduce(0) { $0 &+ Int($1) }
        }
        #expect(sum == (64 << 20) + 1)
        #expect(report.peakRSSDelta >= 32 << 20, "\(report)")
        #expect(report.seconds > 0)
    }

    @Test func cgroupResolution() {
        let v1 = "4:memory:/jobs/a\n0::/\n"
        #expect(
            CgroupPaths.resolve(procCgroup: v1, root: "/cg", exists: { $0 == "/cg/memory/jobs/a/memory.limit_in_bytes" })
                == CgroupPaths(version: .v1, directory: "/cg/memory/jobs/a"))
        let v2 = "0::/user.slice/x\n"
        #expect(
            CgroupPaths.resolve(procCgroup: v2, root: "/cg", exists: { $0 == "/cg/user.slice/x/memory.max" })
                == CgroupPaths(version: .v2, directory: "/cg/user.slice/x"))
        #expect(CgroupPaths.resolve(procCgroup: v2, root: "/cg", exists: { _ in false }) == nil)
    }
}

@Suite(.serialized) struct MemoryCgroupTests {
    /// Starts a child in a 32 MiB memory cgroup that allocates 200 MiB: the kernel must kill it.
    @Test func childOverLimitIsKilled() throws {
        let group: MemoryCgroup
        do {
            group = try MemoryCgroup.create(name: "spacetime-test-\(getpid())", limit: .mebibytes(32))
        } catch {
            print("skipping cgroup test: \(error)")
            return
        }
        defer { group.remove() }
        let p = try group.launch("/usr/bin/python3", ["-c", "x = bytearray(200 << 20); print(len(x))"]) { p in
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
        }
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == 9)
        #expect((group.oomKills ?? 1) >= 1)
        #expect((group.peakUsage ?? 0) <= 33 << 20)
        let ok = try group.launch("/bin/true", [])
        ok.waitUntilExit()
        #expect(ok.terminationStatus == 0)
    }

    @Test func unavailableIsReportedClearly() {
        #expect { _ = try MemoryCgroup.create(name: "x", limit: .mebibytes(8), root: "/nonexistent-cgroup-root") } throws: {
            ($0 as? CgroupError)?.code == .unavailable && "\($0)".contains("no memory controller")
        }
    }
}
