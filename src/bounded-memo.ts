/**
 * A pure function with its answers kept for up to `maxEntries` keys, then started over: for
 * answers derived again and again from a request's text (its client address, its Host), where the
 * key is the client's to choose and so must not grow memory without bound. An answer of
 * `undefined` is derived each time.
 */
export function boundedMemo<K, V>(derive: (key: K) => V, maxEntries: number): (key: K) => V {
  let answers = new Map<K, V>();
  return (key) => {
    let answer = answers.get(key);
    if (answer === undefined) {
      answer = derive(key);
      if (answers.size >= maxEntries) answers = new Map();
      answers.set(key, answer);
    }
    return answer;
  };
}
