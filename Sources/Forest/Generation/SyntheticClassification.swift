import Foundation

/// A deterministic synthetic classification problem in the spirit of scikit-learn's
/// `make_classification`: Gaussian clusters around vertices of a hypercube in the
/// informative subspace, redundant features as random linear combinations of the
/// informative ones, pure-noise features, label noise, columns shuffled.
///
/// The structure (centroids, per-cluster covariance mixes, redundant mix, column order)
/// is drawn once from the seed; rows are then drawn one at a time from an independent
/// stream, so any number of rows is generated in constant memory. Unlike scikit-learn,
/// each row picks its cluster uniformly at random (i.i.d. rows instead of exactly equal
/// cluster sizes followed by a shuffle), which is what makes streaming possible.
public struct SyntheticClassification: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var features = 50
        public var informative = 20
        public var redundant = 10
        public var classes = 2
        public var clustersPerClass = 2
        /// Half the side of the hypercube the cluster centroids sit on.
        public var classSeparation = 1.0
        /// Fraction of rows whose label is replaced by a uniformly random class.
        public var flipY = 0.01
        public var seed: UInt64 = 42
        public init() {}

        /// The informative and redundant feature counts `spacetime generate` uses when they
        /// are not given, scaled to `features`: 40 % informative (at least 1, and at least
        /// enough for 2^informative ≥ classes × clusters per class when the features allow it)
        /// and 20 % redundant, each capped by what the other leaves. 50 features give 20 and 10,
        /// the fixed defaults before they scaled.
        public static func scaledCounts(
            features: Int, classes: Int, clustersPerClass: Int,
            informative: Int? = nil, redundant: Int? = nil
        ) -> (informative: Int, redundant: Int) {
            let f = max(0, features)
            var clusterBits = 0
            while clusterBits < 62 && (1 << clusterBits) < max(1, classes) * max(1, clustersPerClass) { clusterBits += 1 }
            let i = informative ?? min(max(f * 2 / 5, 1, clusterBits), max(1, f - (redundant ?? 0)))
            let r = redundant ?? max(0, min(f / 5, f - i))
            return (i, r)
        }

        /// Upper bounds that keep the generator's memory bounded and its arithmetic exact.
        public static let maxFeatures = 1_000_000
        public static let maxClasses = 65_536
        static let maxStructureValues = 32 << 20

        public func validate() throws {
            func bad(_ m: String) -> ForestError { ForestError(.invalidParameter, m) }
            guard classes >= 2 else { throw bad("classes must be at least 2, got \(classes)") }
            guard informative >= 1 else { throw bad("informative must be at least 1, got \(informative)") }
            guard redundant >= 0 else { throw bad("redundant must be >= 0, got \(redundant)") }
            guard features <= Self.maxFeatures else {
                throw bad("features must be at most \(Self.maxFeatures), got \(features)")
            }
            guard classes <= Self.maxClasses else { throw bad("classes must be at most \(Self.maxClasses), got \(classes)") }
            guard clustersPerClass <= Self.maxClasses else {
                throw bad("clusters per class must be at most \(Self.maxClasses), got \(clustersPerClass)")
            }
            guard informative + redundant <= features else {
                throw bad("informative (\(informative)) + redundant (\(redundant)) must not exceed features (\(features))")
            }
            guard clustersPerClass >= 1 else { throw bad("clusters per class must be at least 1") }
            let clusters = classes * clustersPerClass
            guard informative >= 63 || (1 << informative) >= clusters else {
                throw bad("classes × clusters per class (\(clusters)) must be at most 2^informative (\(1 << informative))")
            }
            // The generator holds one informative × informative matrix per cluster and the
            // informative × redundant mix in memory: keep that structure under 256 MiB.
            let structureValues =
                Double(clusters) * Double(informative) * Double(informative)
                + Double(informative) * Double(redundant)
            guard structureValues <= Double(Self.maxStructureValues) else {
                throw bad(
                    "classes × clusters per class × informative² (\(Int(structureValues)) values) would need more than 256 MiB; use fewer informative features or clusters"
                )
            }
            guard (0...1).contains(flipY) else { throw bad("flip-y must be in [0, 1], got \(flipY)") }
            guard classSeparation > 0 else { throw bad("class separation must be positive") }
        }
    }

    public let configuration: Configuration
    private let centroids: [[Double]]
    private let mixes: [[Double]]  // per cluster, informative × informative, row-major
    private let redundantMix: [Double]  // informative × redundant, row-major
    /// Output column j holds generated feature `columnOrder[j]`.
    public let columnOrder: [Int]

    public init(_ configuration: Configuration) throws {
        try configuration.validate()
        self.configuration = configuration
        var rng = ForestRNG(seed: ForestRNG.derive(configuration.seed, 0x7374_7275_6374))  // "struct"
        let k = configuration.informative
        let clusters = configuration.classes * configuration.clustersPerClass
        var vertices = Set<[Bool]>()
        var cents: [[Double]] = []
        while cents.count < clusters {
            let v = (0..<k).map { _ in rng.next() & 1 == 1 }
            if k < 63, !vertices.insert(v).inserted { continue }
            cents.append(v.map { $0 ? configuration.classSeparation : -configuration.classSeparation })
        }
        centroids = cents
        mixes = (0..<clusters).map { _ in (0..<(k * k)).map { _ in 2 * rng.nextUnit() - 1 } }
        redundantMix = (0..<(k * configuration.redundant)).map { _ in 2 * rng.nextUnit() - 1 }
        var order = Array(0..<configuration.features)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, rng.nextInt(below: i + 1))
        }
        columnOrder = order
    }

    /// A row stream; rows are a pure function of the seed and their position.
    public func rows() -> RowStream { RowStream(problem: self) }

    public struct RowStream {
        let problem: SyntheticClassification
        var rng: ForestRNG
        var spareNormal: Double? = nil
        var generated: [Double]

        init(problem: SyntheticClassification) {
            self.problem = problem
            rng = ForestRNG(seed: ForestRNG.derive(problem.configuration.seed, 0x726F_7773))  // "rows"
            generated = Array(repeating: 0, count: problem.configuration.features)
        }

        mutating func normal() -> Double {
            if let s = spareNormal {
                spareNormal = nil
                return s
            }
            // Marsaglia polar method.
            while true {
                let u = 2 * rng.nextUnit() - 1
                let v = 2 * rng.nextUnit() - 1
                let s = u * u + v * v
                if s > 0 && s < 1 {
                    let m = (-2 * Foundation.log(s) / s).squareRoot()
                    spareNormal = v * m
                    return u * m
                }
            }
        }

        /// Writes the next row's features (in output column order) into `out` and returns its class.
        public mutating func next(into out: inout [Double]) -> Int {
            let c = problem.configuration
            let k = c.informative
            let clusters = c.classes * c.clustersPerClass
            let cluster = rng.nextInt(below: clusters)
            var label = cluster % c.classes
            var z = [Double](repeating: 0, count: k)
            for i in 0..<k { z[i] = normal() }
            let mix = problem.mixes[cluster]
            let centroid = problem.centroids[cluster]
            for j in 0..<k {
                var s = centroid[j]
                for i in 0..<k { s += z[i] * mix[i * k + j] }
                generated[j] = s
            }
            for j in 0..<c.redundant {
                var s = 0.0
                for i in 0..<k { s += generated[i] * problem.redundantMix[i * c.redundant + j] }
                generated[k + j] = s
            }
            for j in (k + c.redundant)..<c.features { generated[j] = normal() }
            if c.flipY > 0 && rng.nextUnit() < c.flipY { label = rng.nextInt(below: c.classes) }
            if out.count != c.features { out = Array(repeating: 0, count: c.features) }
            for j in 0..<c.features { out[j] = generated[problem.columnOrder[j]] }
            return label
        }
    }

    /// Streams `rows` rows as CSV (header `f0..f{d-1},label`) through `write`, in chunks of
    /// about 1 MiB. Values are printed as the shortest decimal that round-trips their
    /// Float32 rounding (about 7 significant digits, like the reference `%.7g`).
    public func writeCSV(rows: Int, write: ([UInt8]) throws -> Void) throws {
        let d = configuration.features
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20 + 4096)
        buffer.append(contentsOf: ((0..<d).map { "f\($0)" } + ["label"]).joined(separator: ",").utf8)
        buffer.append(10)
        var stream = self.rows()
        var row = [Double](repeating: 0, count: d)
        for _ in 0..<rows {
            let label = stream.next(into: &row)
            for j in 0..<d {
                var text = Float(row[j]).description
                text.withUTF8 { buffer.append(contentsOf: $0) }
                buffer.append(44)
            }
            var l = String(label)
            l.withUTF8 { buffer.append(contentsOf: $0) }
            buffer.append(10)
            if buffer.count >= 1 << 20 {
                try write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { try write(buffer) }
    }
}
