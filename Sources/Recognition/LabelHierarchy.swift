/// Every label the classifier can report, class names and their parents alike, with the
/// classes each one covers: a parent's confidence is the summed probability of the classes
/// below it, so "cat" is every cat breed together and "animal" every animal class.
///
/// A class name that is also another class's parent is one label: its confidence covers both.
public struct LabelHierarchy: Sendable {
    /// One reportable label.
    public struct Term: Sendable, Equatable {
        public var name: String
        /// More general labels, nearest first.
        public var parents: [String]
    }

    /// All labels, classes first (in class order), then the parents in the order met.
    public let terms: [Term]
    /// Per class index, the terms covering it: the class's own term and each of its parents'.
    let covering: [[Int]]

    /// Builds the hierarchy of `classNames` with each class's parents (nearest first).
    ///
    /// A term's parents are those above it in *every* chain it appears in (the taxonomy is a
    /// graph: "cup" may sit under "container" in one chain and under "drink" in another), so a
    /// parent always covers every class its child covers and is at least as confident.
    public init(classNames: [String], taxonomy: LabelTaxonomy) {
        var order: [String] = []
        var index: [String: Int] = [:]
        var chains: [[String]] = []  // per term: the parents it has everywhere, nearest first
        func meet(_ name: String, above: [String]) -> Int {
            if let known = index[name] {
                let here = Set(above)
                chains[known] = chains[known].filter(here.contains)
                return known
            }
            index[name] = order.count
            order.append(name)
            chains.append(above)
            return order.count - 1
        }
        var covering: [[Int]] = []
        for (number, name) in classNames.enumerated() {
            let chain = number < taxonomy.parents.count ? taxonomy.parents[number] : []
            var cover = [meet(name, above: chain)]
            for (position, parent) in chain.enumerated() {
                let covered = meet(parent, above: Array(chain[(position + 1)...]))
                if !cover.contains(covered) { cover.append(covered) }
            }
            covering.append(cover)
        }
        self.terms = zip(order, chains).map { Term(name: $0, parents: $1) }
        self.covering = covering
    }

    /// Each term's confidence (0-1): the summed probability of the classes it covers.
    public func confidences(_ probabilities: [Float]) -> [Double] {
        var sums = [Double](repeating: 0, count: terms.count)
        for (number, cover) in covering.enumerated() where number < probabilities.count {
            let probability = Double(probabilities[number])
            for term in cover { sums[term] += probability }
        }
        return sums
    }

    /// The labels to report: every term whose confidence passes `minConfidence` (0-100), most
    /// confident first (on a tie the more specific one, with more parents, first), at most
    /// `maxLabels`. The set is closed upwards: a label's parents are at least as confident, so
    /// they pass too (and come first, or on a tie right after it).
    public func labels(from probabilities: [Float], options: LabelOptions) -> [RecognizedLabel] {
        let confidences = confidences(probabilities)
        var passing: [(term: Int, confidence: Double)] = []
        for (term, value) in confidences.enumerated() {
            // Percent with two decimals; a sum of float probabilities may pass 100 by a rounding step.
            let confidence = min(100, (value * 100 * 100).rounded() / 100)
            if confidence >= options.minConfidence && confidence > 0 { passing.append((term, confidence)) }
        }
        passing.sort { a, b in
            if a.confidence != b.confidence { return a.confidence > b.confidence }
            let (pa, pb) = (terms[a.term].parents.count, terms[b.term].parents.count)
            if pa != pb { return pa > pb }
            return terms[a.term].name < terms[b.term].name
        }
        return passing.prefix(max(0, options.maxLabels)).map {
            RecognizedLabel(name: terms[$0.term].name, confidence: $0.confidence, parents: terms[$0.term].parents)
        }
    }
}
