/// An invalid sampling parameter.
public struct SamplingError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable { case invalidFraction, invalidCount }
    public var code: Code
    public var message: String
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

extension SamplingError: TaskFailureConvertible {
    /// Bad parameters: a sampling fraction or count out of range.
    public var taskFailure: TaskFailure { TaskFailure(.badParameters, description) }
}

/// Where one row goes: a partition (0..<partitions) and train or test.
public struct Assignment: Sendable, Equatable, Hashable {
    public var partition: Int
    public var isTest: Bool
    public init(partition: Int, isTest: Bool) {
        self.partition = partition
        self.isTest = isTest
    }
}

/// Deals a class's rows, in stream order, into `blockSize` slots using a fresh seeded random
/// permutation for every block of `blockSize` consecutive rows of that class.
///
/// Row *j* of class *c* gets slot `π_{c,⌊j/B⌋}[j mod B]`, where the permutation is a Fisher–Yates
/// shuffle driven by `SplitMix64(StableHash.combine(seed, tag, h_c, ⌊j/B⌋))` and `h_c` is the
/// class's hash. So every slot receives ⌊n_c/B⌋ or ⌈n_c/B⌉ rows of every class, and which rows
/// is random, whatever the order of the file.
struct BlockDealer {
    let seed: UInt64
    let tag: UInt64
    let blockSize: Int
    private var classes: [UInt64: (count: Int, perm: [Int32])] = [:]

    init(seed: UInt64, tag: UInt64, blockSize: Int) {
        self.seed = seed
        self.tag = tag
        self.blockSize = blockSize
    }

    /// The slot of the next row of class `classHash`, and that row's 0-based index in its class.
    mutating func deal(_ classHash: UInt64) -> (slot: Int, index: Int) {
        Self.advance(&classes[classHash, default: (0, [])], seed: seed, tag: tag, blockSize: blockSize, classHash: classHash)
    }

    private static func advance(_ state: inout (count: Int, perm: [Int32]), seed: UInt64, tag: UInt64, blockSize: Int, classHash: UInt64)
        -> (slot: Int, index: Int)
    {
        let j = state.count
        state.count = j + 1
        if blockSize == 1 { return (0, j) }
        let r = j % blockSize
        if r == 0 { permutation(&state.perm, blockSize, StableHash.combine(seed, tag, classHash, UInt64(j / blockSize))) }
        return (Int(state.perm[r]), j)
    }

    /// Fisher–Yates shuffle of 0..<n with a platform-stable generator.
    static func permutation(_ perm: inout [Int32], _ n: Int, _ seed: UInt64) {
        if perm.count != n { perm = (0..<Int32(n)).map { $0 } } else { for i in 0..<n { perm[i] = Int32(i) } }
        var rng = SplitMix64(seed: seed)
        var i = n - 1
        while i > 0 {
            let k = Int(rng.next(below: UInt64(i + 1)))
            perm.swapAt(i, k)
            i -= 1
        }
    }
}

/// Deterministic, stratified assignment of streamed rows to partitions and to train/test.
///
/// A pure function of (seed, parameters, the sequence of class keys seen so far): two processes
/// streaming the same file with the same parameters — the single-process trainer and the
/// distributed coordinator — make identical assignments.
///
/// Scheme (version 1). Let `h_c = XXHash64(label text, seed 0)` and let *j* count the rows of class
/// *c* seen so far.
/// - **Train/test**: rows of a class are taken in blocks of `M = 100`. Block *b* holds
///   `T_b = ⌊(b+1)·M·f + u_c⌋ − ⌊b·M·f + u_c⌋` test rows, `u_c ∈ [0,1)` a seeded per-class offset,
///   so the running test count of every class stays within one row of `f·n_c`. Which rows of the
///   block are test is decided by a seeded permutation of the block (`BlockDealer`, tag 1):
///   row *j* is test iff its slot is `< T_b`.
/// - **Partition**: train rows and test rows of each class are dealt separately into blocks of
///   `p` slots by seeded permutations (tags 2 and 3), so every partition gets ⌊·⌋ or ⌈·⌉ of each
///   class's train rows and of its test rows.
///
/// Hence class proportions per partition equal the whole's up to one row per class, and a file
/// sorted by label yields partitions that are random samples of every class.
public struct StratifiedAssigner: Sendable {
    public let seed: UInt64
    public let testFraction: Double
    public let partitions: Int
    static let testBlock = 100

    private var testDealer: BlockDealer
    private var trainPartitions: BlockDealer
    private var testPartitions: BlockDealer

    /// - Parameters:
    ///   - testFraction: share of each class held out for testing, in [0, 1).
    ///   - partitions: number of partitions, ≥ 1.
    public init(seed: UInt64, testFraction: Double, partitions: Int = 1) throws(SamplingError) {
        guard testFraction >= 0 && testFraction < 1 else {
            throw SamplingError(code: .invalidFraction, message: "test fraction must be in [0, 1), got \(testFraction)")
        }
        guard partitions >= 1 && partitions <= 1 << 20 else {
            throw SamplingError(code: .invalidCount, message: "partitions must be between 1 and 1,048,576, got \(partitions)")
        }
        self.seed = seed
        self.testFraction = testFraction
        self.partitions = partitions
        testDealer = BlockDealer(seed: seed, tag: 1, blockSize: Self.testBlock)
        trainPartitions = BlockDealer(seed: seed, tag: 2, blockSize: partitions)
        testPartitions = BlockDealer(seed: seed, tag: 3, blockSize: partitions)
    }

    /// Assigns the next row, whose class label text is `classKey`.
    public mutating func assign(classKey: String) -> Assignment {
        assign(classHash: XXHash64.hash(classKey))
    }

    /// Assigns the next row, whose class label is these UTF-8 bytes (no allocation).
    public mutating func assign(classBytes: UnsafeRawBufferPointer) -> Assignment {
        assign(classHash: XXHash64.hash(classBytes))
    }

    /// Assigns the next row of the class with this hash (`XXHash64` of its label text).
    public mutating func assign(classHash: UInt64) -> Assignment {
        var isTest = false
        if testFraction > 0 {
            let (slot, j) = testDealer.deal(classHash)
            let m = Self.testBlock
            let b = Double(j / m)
            let u = Double(StableHash.combine(seed, 4, classHash) >> 11) * 0x1p-53
            let perBlock = Double(m) * testFraction
            let tests = Int((b + 1) * perBlock + u) - Int(b * perBlock + u)
            isTest = slot < tests
        }
        let partition = isTest ? testPartitions.deal(classHash).slot : trainPartitions.deal(classHash).slot
        return Assignment(partition: partition, isTest: isTest)
    }
}

/// Deterministic stratified k-fold assignment of streamed rows (same scheme as
/// `StratifiedAssigner`'s partitions, tag 5): every fold gets ⌊n_c/k⌋ or ⌈n_c/k⌉ rows of each class.
public struct StratifiedFoldAssigner: Sendable {
    public let seed: UInt64
    public let folds: Int
    private var dealer: BlockDealer

    public init(seed: UInt64, folds: Int) throws(SamplingError) {
        guard folds >= 2 && folds <= 1 << 16 else {
            throw SamplingError(code: .invalidCount, message: "folds must be between 2 and 65,536, got \(folds)")
        }
        self.seed = seed
        self.folds = folds
        dealer = BlockDealer(seed: seed, tag: 5, blockSize: folds)
    }

    /// The fold (0..<folds) of the next row, whose class label text is `classKey`.
    public mutating func fold(classKey: String) -> Int { fold(classHash: XXHash64.hash(classKey)) }

    /// The fold of the next row, whose class label is these UTF-8 bytes.
    public mutating func fold(classBytes: UnsafeRawBufferPointer) -> Int { fold(classHash: XXHash64.hash(classBytes)) }

    /// The fold of the next row of the class with this hash.
    public mutating func fold(classHash: UInt64) -> Int { dealer.deal(classHash).slot }
}
