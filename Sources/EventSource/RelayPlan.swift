/// Decides, from the broker's answer to one relay batch, which stored events count as published.
///
/// A batch is sent in `seq` order. An event counts as published when the broker acknowledged it
/// and no earlier event of the same key in the batch failed: marking a later event of that key
/// while an earlier one stays unpublished would let the next pass put the earlier one on the topic
/// after it. The later one is sent again with its predecessor, and consumers drop the duplicate.
/// No I/O: tested on its own.
public enum RelayPlan {
  /// The indices of `keys` (in batch order) that may be marked published, given which sends
  /// succeeded (`succeeded[i]` answers for `keys[i]`).
  public static func publishable(keys: [String], succeeded: [Bool]) -> [Int] {
    precondition(keys.count == succeeded.count, "one result per record")
    var blocked: Set<String> = []
    var result: [Int] = []
    result.reserveCapacity(keys.count)
    for index in keys.indices {
      let key = keys[index]
      if blocked.contains(key) { continue }
      if succeeded[index] {
        result.append(index)
      } else {
        blocked.insert(key)
      }
    }
    return result
  }
}
