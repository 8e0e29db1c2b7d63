#if canImport(Glibc)
    import Glibc
#endif

/// A uniform random sample of fixed size from a stream of unknown length (Li's Algorithm L:
/// O(k(1 + log(n/k))) random numbers, so skipping is cheap). Deterministic given the seed.
public struct ReservoirSampler<Element> {
    public let capacity: Int
    /// The sample (in reservoir order, not stream order).
    public private(set) var items: [Element] = []
    /// Items offered so far.
    public private(set) var seen = 0
    private var rng: SplitMix64
    private var w: Double = 1
    private var nextTake = 0
    /// The slot overwritten by the last replacing `offer` (for callers keeping parallel storage).
    public private(set) var lastReplaced = -1

    public init(capacity: Int, seed: UInt64) {
        precondition(capacity >= 0)
        self.capacity = capacity
        rng = SplitMix64(seed: seed)
        items.reserveCapacity(min(capacity, 1 << 16))
    }

    private mutating func unit() -> Double {
        // (0, 1]: never 0, so logarithms stay finite.
        Double((rng.next() >> 11) + 1) * 0x1p-53
    }

    private mutating func scheduleNext() {
        w *= exp(log(unit()) / Double(capacity))
        let skip = floor(log(unit()) / log1p(-w))
        nextTake = seen + (skip.isFinite && skip < 1e15 ? Int(skip) : Int.max / 2) + 1
    }

    /// Whether the next offered item would be taken. Lets callers skip building items.
    public var wantsNext: Bool { items.count < capacity || seen + 1 == nextTake }

    /// Offers one item; `make` is evaluated only if the item is taken.
    public mutating func offer(_ make: @autoclosure () -> Element) {
        seen += 1
        if items.count < capacity {
            items.append(make())
            if items.count == capacity { scheduleNext() }
        } else if seen == nextTake {
            lastReplaced = Int(rng.next(below: UInt64(capacity)))
            items[lastReplaced] = make()
            scheduleNext()
        }
    }
}

/// A reservoir per class: up to `perClass` items of every class, each a uniform sample of that
/// class's items (deterministic given the seed; classes keyed by their label hash).
public struct StratifiedReservoirSampler<Element> {
    public let perClass: Int
    public let seed: UInt64
    private var reservoirs: [UInt64: ReservoirSampler<Element>] = [:]
    private var labels: [UInt64: String] = [:]

    public init(perClass: Int, seed: UInt64) {
        self.perClass = perClass
        self.seed = seed
    }

    /// Offers an item of class `classKey`.
    public mutating func offer(classKey: String, _ make: @autoclosure () -> Element) {
        let h = XXHash64.hash(classKey)
        if reservoirs[h] == nil {
            reservoirs[h] = ReservoirSampler(capacity: perClass, seed: StableHash.combine(seed, h))
            labels[h] = classKey
        }
        reservoirs[h]!.offer(make())
    }

    /// Per class label: the sample and how many items of the class were seen.
    public var samples: [String: (items: [Element], seen: Int)] {
        var out: [String: (items: [Element], seen: Int)] = [:]
        for (h, r) in reservoirs { out[labels[h]!] = (r.items, r.seen) }
        return out
    }
}
