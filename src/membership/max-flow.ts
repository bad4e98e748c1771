/**
 * A small flow solver for the movement planner's networks: a few hundred
 * vertices, a few thousand edges, capacities up to a few tens of thousands,
 * costs 0 or 1. Maximum flow by Dinic's algorithm; minimum-cost maximum flow
 * by the primal-dual method (shortest distances by Bellman-Ford, then a
 * Dinic maximum flow over the edges on shortest paths, until no path is left).
 */

/**
 * A flow network. Flow found by one run is kept, and a later run only
 * augments it.
 */
export class FlowNetwork {
  readonly #head: number[]
  readonly #to: number[] = []
  readonly #cap: number[] = []
  readonly #cost: number[] = []
  readonly #initial: number[] = []
  readonly #next: number[] = []

  /**
   * @param vertices - how many vertices, numbered from 0
   */
  constructor (vertices: number) {
    this.#head = new Array<number>(vertices).fill(-1)
  }

  /**
   * Adds an edge and its residual twin
   *
   * @param cost - cost per unit of flow, default 0
   * @returns the edge's index, for {@link FlowNetwork.flow}
   */
  addEdge (from: number, to: number, capacity: number, cost = 0): number {
    const index = this.#to.length
    this.#push(from, to, capacity, cost)
    this.#push(to, from, 0, -cost)
    return index
  }

  /**
   * The flow through an edge after the last run
   *
   * @param edge - an index returned by {@link FlowNetwork.addEdge}
   */
  flow (edge: number): number {
    return this.#initial[edge] - this.#cap[edge]
  }

  /**
   * Augments the current flow to a maximum one, ignoring costs
   *
   * @returns the flow added by this run
   */
  maxFlow (source: number, sink: number): number {
    return this.#dinic(source, sink, () => true)
  }

  /**
   * Augments the current flow to a maximum one of least cost. The current
   * flow must itself be of least cost for its value (true of no flow).
   *
   * @returns the flow added by this run
   */
  minCostMaxFlow (source: number, sink: number): number {
    let total = 0

    for (;;) {
      const distance = this.#distances(source)

      if (distance[sink] === Infinity) {
        return total
      }

      total += this.#dinic(source, sink, (u, e) => distance[u] + this.#cost[e] === distance[this.#to[e]])
    }
  }

  /** Shortest distances from `source` over edges with room left (Bellman-Ford, queue-based) */
  #distances (source: number): number[] {
    const distance = new Array<number>(this.#head.length).fill(Infinity)
    const queued = new Uint8Array(this.#head.length)
    const queue = [source]
    distance[source] = 0
    queued[source] = 1

    for (let i = 0; i < queue.length; i++) {
      const u = queue[i]
      queued[u] = 0

      for (let e = this.#head[u]; e !== -1; e = this.#next[e]) {
        const v = this.#to[e]

        if (this.#cap[e] > 0 && distance[u] + this.#cost[e] < distance[v]) {
          distance[v] = distance[u] + this.#cost[e]

          if (queued[v] === 0) {
            queued[v] = 1
            queue.push(v)
          }
        }
      }
    }

    return distance
  }

  /** Dinic's maximum flow over the edges `allowed` takes */
  #dinic (source: number, sink: number, allowed: (u: number, e: number) => boolean): number {
    let total = 0
    const vertices = this.#head.length

    for (;;) {
      const level = new Int32Array(vertices).fill(-1)
      level[source] = 0
      const queue = [source]

      for (let i = 0; i < queue.length; i++) {
        const u = queue[i]

        for (let e = this.#head[u]; e !== -1; e = this.#next[e]) {
          if (this.#cap[e] > 0 && level[this.#to[e]] === -1 && allowed(u, e)) {
            level[this.#to[e]] = level[u] + 1
            queue.push(this.#to[e])
          }
        }
      }

      if (level[sink] === -1) {
        return total
      }

      const cursor = [...this.#head]
      let pushed: number

      while ((pushed = this.#augment(source, sink, Infinity, level, cursor, allowed)) > 0) {
        total += pushed
      }
    }
  }

  #augment (u: number, sink: number, limit: number, level: Int32Array, cursor: number[], allowed: (u: number, e: number) => boolean): number {
    if (u === sink) {
      return limit
    }

    for (; cursor[u] !== -1; cursor[u] = this.#next[cursor[u]]) {
      const e = cursor[u]
      const v = this.#to[e]

      if (this.#cap[e] > 0 && level[v] === level[u] + 1 && allowed(u, e)) {
        const pushed = this.#augment(v, sink, Math.min(limit, this.#cap[e]), level, cursor, allowed)

        if (pushed > 0) {
          this.#cap[e] -= pushed
          this.#cap[e ^ 1] += pushed
          return pushed
        }
      }
    }

    return 0
  }

  #push (from: number, to: number, capacity: number, cost: number): void {
    this.#to.push(to)
    this.#cap.push(capacity)
    this.#cost.push(cost)
    this.#initial.push(capacity)
    this.#next.push(this.#head[from])
    this.#head[from] = this.#to.length - 1
  }
}
