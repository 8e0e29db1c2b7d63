import Foundation
import Testing

@testable import Cluster

private struct ArraySource: RecordSource {
    var records: [SourceRecord]
    var index = 0
    mutating func next() throws -> SourceRecord? {
        defer { index += 1 }
        return index < records.count ? records[index] : nil
    }
}

/// Records what a pass sends; grants a fixed number of batches per attempt until told otherwise.
private final class FakeSink: RowSink {
    var streams: [Int: UInt64]
    var creditBatches: [UInt64: Int] = [:]
    var received: [UInt64: [(lines: [UInt64], records: [String], tests: [Bool], train: Int, file: UInt32)]] = [:]
    var ended: [UInt64] = []

    init(streams: [Int: UInt64], credit: Int) {
        self.streams = streams
        for a in streams.values { creditBatches[a] = credit }
    }

    var rowStreams: [(partition: Int, attemptID: UInt64)] {
        streams.filter { !ended.contains($0.value) }.map { ($0.key, $0.value) }.sorted { $0.partition < $1.partition }
    }

    func canSendRows(to attemptID: UInt64, bytes: Int) -> Bool { (creditBatches[attemptID] ?? 0) > 0 }

    func sendRows(
        to attemptID: UInt64, firstLine: UInt64, lineDeltas: [UInt32], recordLengths: [UInt32], testMask: Data,
        folds: Data, trainRows: Int, payload: Data, sourceFile: UInt32, at time: EngineTime
    ) -> [CoordinatorOutput] {
        #expect(canSendRows(to: attemptID, bytes: payload.count), "sent without credit")
        creditBatches[attemptID, default: 0] -= 1
        var lines = [firstLine]
        for d in lineDeltas { lines.append(lines.last! + UInt64(d)) }
        var records: [String] = []
        var offset = 0
        for l in recordLengths {
            records.append(String(decoding: payload[offset..<(offset + Int(l))], as: UTF8.self))
            offset += Int(l)
        }
        #expect(offset == payload.count)
        let tests = recordLengths.indices.map { testMask[$0 / 8] & (1 << UInt8($0 % 8)) != 0 }
        #expect(testMask.count == (recordLengths.count + 7) / 8)
        received[attemptID, default: []].append((lines, records, tests, trainRows, sourceFile))
        return []
    }

    func endRows(to attemptID: UInt64, at time: EngineTime) -> [CoordinatorOutput] {
        #expect(!ended.contains(attemptID), "ended twice")
        ended.append(attemptID)
        return []
    }
}

private let now = EngineTime(monotonic: 0, wall: 0)

private func records(_ n: Int, partitions: Int) -> [SourceRecord] {
    (0..<n).map { i in
        SourceRecord(
            line: UInt64(i * 2 + 2), partition: (i * 7) % partitions, isTest: i % 5 == 0,
            bytes: Data("row-\(i),\(String(repeating: "x", count: i % 13))".utf8))
    }
}

@Suite struct RowPassTests {
    @Test func onePassFeedsEveryOpenStreamInFileOrder() throws {
        let input = records(1000, partitions: 3)
        let sink = FakeSink(streams: [0: 10, 1: 11], credit: 1000)
        let pass = RowPass(source: ArraySource(records: input), sink: sink, limits: .init(batchRows: 64, batchBytes: 1 << 20))
        _ = try pass.pump(into: sink, at: now)
        #expect(pass.isFinished)
        #expect(Set(sink.ended) == [10, 11])
        for (partition, attempt) in [(0, UInt64(10)), (1, 11)] {
            let expected = input.filter { $0.partition == partition }
            let got = sink.received[attempt] ?? []
            #expect(got.flatMap(\.records) == expected.map { String(decoding: $0.bytes, as: UTF8.self) })
            #expect(got.flatMap(\.lines) == expected.map(\.line))
            #expect(got.flatMap(\.tests) == expected.map(\.isTest))
            #expect(got.map(\.train).reduce(0, +) == expected.filter { !$0.isTest }.count)
            #expect(got.allSatisfy { $0.records.count <= 64 })
        }
        #expect(pass.recordsSkipped == UInt64(input.filter { $0.partition == 2 }.count), "partition 2 is not in this pass")
        #expect(pass.recordsRead == 1000)
    }

    @Test func batchesRespectTheByteLimit() throws {
        let input = records(300, partitions: 1)
        let sink = FakeSink(streams: [0: 1], credit: 1000)
        let pass = RowPass(source: ArraySource(records: input), sink: sink, limits: .init(batchRows: 10_000, batchBytes: 100))
        _ = try pass.pump(into: sink, at: now)
        let batches = sink.received[1] ?? []
        #expect(batches.count > 10)
        #expect(batches.allSatisfy { $0.records.map(\.utf8.count).reduce(0, +) <= 100 })
        #expect(batches.flatMap(\.records).count == 300)
    }

    @Test func noCreditStopsReadingAndHoldsOneRecord() throws {
        let input = records(200, partitions: 2)
        let sink = FakeSink(streams: [0: 1, 1: 2], credit: 1)
        let pass = RowPass(source: ArraySource(records: input), sink: sink, limits: .init(batchRows: 10, batchBytes: 1 << 20))
        _ = try pass.pump(into: sink, at: now)
        #expect(!pass.isFinished)
        // one batch sent per partition, one more open per partition, one record held: the read stops there
        #expect(pass.recordsRead <= 10 + 10 + 10 + 10 + 1)
        let readWhileBlocked = pass.recordsRead
        _ = try pass.pump(into: sink, at: now)
        #expect(pass.recordsRead == readWhileBlocked, "nothing more is read without credit")
        var rounds = 0
        while !pass.isFinished && rounds < 100 {
            sink.creditBatches[1, default: 0] += 1
            sink.creditBatches[2, default: 0] += 1
            _ = try pass.pump(into: sink, at: now)
            rounds += 1
        }
        #expect(pass.isFinished)
        #expect((sink.received[1] ?? []).flatMap(\.records).count == input.filter { $0.partition == 0 }.count)
        #expect((sink.received[2] ?? []).flatMap(\.records).count == input.filter { $0.partition == 1 }.count)
    }

    @Test func streamThatEndsMidPassIsSkippedAndNotEnded() throws {
        let input = records(400, partitions: 2)
        let sink = FakeSink(streams: [0: 1, 1: 2], credit: 2)
        let pass = RowPass(source: ArraySource(records: input), sink: sink, limits: .init(batchRows: 10, batchBytes: 1 << 20))
        _ = try pass.pump(into: sink, at: now)
        sink.streams[1] = nil  // attempt 2's worker was lost
        sink.creditBatches[1] = 1000
        _ = try pass.pump(into: sink, at: now)
        #expect(pass.isFinished)
        #expect(sink.ended == [1])
        #expect((sink.received[1] ?? []).flatMap(\.records).count == input.filter { $0.partition == 0 }.count)
        #expect((sink.received[2] ?? []).count == 2, "only what was sent before the loss")
    }

    @Test func emptyInputJustEndsTheStreams() throws {
        let sink = FakeSink(streams: [0: 1], credit: 1)
        let pass = RowPass(source: ArraySource(records: []), sink: sink)
        _ = try pass.pump(into: sink, at: now)
        #expect(pass.isFinished && sink.ended == [1] && sink.received.isEmpty)
    }

    /// Parts of a directory restart their line numbers, and a later part's lines may still be
    /// higher than an earlier one's: a batch never mixes files, and carries its file's number.
    @Test func aBatchHoldsOneFilesRecordsAndNamesThatFile() throws {
        // Files 1 to 4, three records each on lines 2, 4, 6 (file 3 on 10, 12, 14: above file 2's), one partition.
        let input = (0..<12).map { (i: Int) -> SourceRecord in
            let first = i / 3 == 2 ? 10 : 2
            return SourceRecord(
                line: UInt64(first + 2 * (i % 3)), partition: 0, isTest: i % 4 == 0,
                bytes: Data("r\(i)".utf8), file: UInt32(1 + i / 3))
        }
        let sink = FakeSink(streams: [0: 1], credit: 1000)
        let pass = RowPass(source: ArraySource(records: input), sink: sink, limits: .init(batchRows: 2, batchBytes: 1 << 20))
        _ = try pass.pump(into: sink, at: now)
        #expect(pass.isFinished)
        let batches = sink.received[1] ?? []
        #expect(batches.map(\.file) == [1, 1, 2, 2, 3, 3, 4, 4], "two batches per file of three records")
        #expect(batches.map(\.records.count) == [2, 1, 2, 1, 2, 1, 2, 1])
        for batch in batches {
            let names = batch.records.compactMap { Int($0.dropFirst()) }
            #expect(names.allSatisfy { UInt32(1 + $0 / 3) == batch.file }, "\(batch.records) in file \(batch.file)")
        }
        #expect(batches.flatMap(\.lines) == input.map(\.line))
        #expect(batches.flatMap(\.tests) == input.map(\.isTest))
    }
}
