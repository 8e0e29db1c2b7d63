import ArgumentParser
import Cluster
import Forest

// The domain's option values as argument-parser values: `--help` lists the cases and a bad
// value is refused at parse time with argument-parser's message naming the valid ones.

extension TaskChoice: ExpressibleByArgument {}
extension SplitCriterion: ExpressibleByArgument {}
extension ClassWeighting: ExpressibleByArgument {}
extension ScoringPlan.Choice: ExpressibleByArgument {}
extension ProgressMode: ExpressibleByArgument {}

/// `--max-features`: a keyword (auto, sqrt, log2, all; any case; also none and 1.0 for all),
/// a fraction in (0, 1] or a count of at least 1, as ``MaxFeatures/init(parsing:)`` reads them.
/// No value list: numbers are values too.
extension MaxFeatures: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
    public var defaultValueDescription: String { description }
}
