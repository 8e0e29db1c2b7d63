import ArgumentParser
import Forest

extension ForestParameters {
    /// Forest parameters from the command-line spellings shared by `train`, `coordinator`
    /// and `local`; every bad value is a `ValidationError` naming its flag.
    static func parsing(
        trees: Int, maxDepth: Int?, minSamplesSplit: Int, minSamplesLeaf: Int,
        maxFeatures: String, criterion: String, classWeight: String, noBootstrap: Bool, seed: UInt64
    ) throws -> ForestParameters {
        var p = ForestParameters()
        p.trees = trees; p.maxDepth = maxDepth; p.minSamplesSplit = minSamplesSplit; p.minSamplesLeaf = minSamplesLeaf
        guard let mf = MaxFeatures(parsing: maxFeatures) else {
            throw ValidationError("--max-features must be sqrt, log2, all, a fraction in (0, 1] or a count")
        }
        p.maxFeatures = mf
        guard let c = SplitCriterion(rawValue: criterion) else { throw ValidationError("--criterion must be gini or entropy") }
        p.criterion = c
        guard let cw = ClassWeighting(rawValue: classWeight) else {
            throw ValidationError("--class-weight must be none or balanced")
        }
        p.classWeighting = cw
        p.bootstrap = !noBootstrap
        p.seed = seed
        do { try p.validate() } catch { throw ValidationError("\(error)") }
        return p
    }
}
