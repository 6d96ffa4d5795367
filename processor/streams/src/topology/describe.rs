//! A topology's shape, printed as Kafka Streams' `Topology.describe()` does, or as Graphviz
//! dot or Mermaid diagrams.

use std::fmt::{self, Write as _};

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRole {
    /// Reads records from topics.
    Source {
        /// The topics read.
        topics: Vec<String>,
    },
    /// Transforms records.
    Processor,
    /// Writes records to a topic.
    Sink {
        /// The topic written.
        topic: String,
    },
}

/// One node of a described topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDescription {
    /// The node's unique name (`KSTREAM-FILTER-0000000001`, or a given name).
    pub name: String,
    /// What the node does.
    pub role: NodeRole,
    /// Names of the nodes it forwards to, in Kafka Streams' order.
    pub successors: Vec<String>,
    /// Names of the nodes that forward to it, in Kafka Streams' order.
    pub predecessors: Vec<String>,
    /// The state stores it reads or writes.
    pub stores: Vec<String>,
    /// Whether its stores are global (its sub-topology feeds a global store).
    pub global: bool,
}

impl NodeDescription {
    pub(crate) fn new(name: &str, role: NodeRole) -> Self {
        Self {
            name: name.to_owned(),
            role,
            successors: Vec::new(),
            predecessors: Vec::new(),
            stores: Vec::new(),
            global: false,
        }
    }
}

/// A connected part of the topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtopology {
    /// Its number, from 0.
    pub id: usize,
    /// Whether it only feeds a global store (Kafka Streams: "will not generate tasks").
    pub global: bool,
    /// Its nodes: those with the most downstream nodes first, ties by name (Kafka's order).
    pub nodes: Vec<NodeDescription>,
}

/// The description of a topology; `Display` prints Kafka Streams' text format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyDescription {
    /// The connected parts, numbered in the order their first node was declared.
    pub subtopologies: Vec<Subtopology>,
}

/// Describes a graph given its nodes (in declaration order) and each node's children. Nodes
/// sharing a store belong to one sub-topology, as in Kafka Streams.
pub(crate) fn describe(nodes: &[NodeDescription], children: &[Vec<usize>]) -> TopologyDescription {
    let mut parents = vec![Vec::new(); nodes.len()];
    for (parent, kids) in children.iter().enumerate() {
        for &kid in kids {
            parents[kid].push(parent);
        }
    }
    let sharing_a_store: Vec<Vec<usize>> = nodes
        .iter()
        .map(|node| {
            (0..nodes.len())
                .filter(|&other| {
                    node.stores
                        .iter()
                        .any(|store| nodes[other].stores.contains(store))
                })
                .collect()
        })
        .collect();
    // Kafka's node "size": itself plus the sizes of its successors (children come after parents).
    let mut size = vec![1usize; nodes.len()];
    for id in (0..nodes.len()).rev() {
        size[id] += children[id].iter().map(|&kid| size[kid]).sum::<usize>();
    }
    let order = |ids: &mut Vec<usize>| {
        ids.sort_by(|&a, &b| {
            size[b]
                .cmp(&size[a])
                .then_with(|| nodes[a].name.cmp(&nodes[b].name))
        });
    };
    let names = |ids: &[usize]| {
        ids.iter()
            .map(|&id| nodes[id].name.clone())
            .collect::<Vec<_>>()
    };

    let mut component = vec![usize::MAX; nodes.len()];
    let mut subtopologies = Vec::new();
    for start in 0..nodes.len() {
        if component[start] != usize::MAX {
            continue;
        }
        let id = subtopologies.len();
        let mut members = Vec::new();
        let mut stack = vec![start];
        component[start] = id;
        while let Some(node) = stack.pop() {
            members.push(node);
            for &next in children[node]
                .iter()
                .chain(&parents[node])
                .chain(&sharing_a_store[node])
            {
                if component[next] == usize::MAX {
                    component[next] = id;
                    stack.push(next);
                }
            }
        }
        order(&mut members);
        let global = members.iter().any(|&member| nodes[member].global);
        let nodes = members
            .iter()
            .map(|&member| {
                let (mut successors, mut predecessors) =
                    (children[member].clone(), parents[member].clone());
                order(&mut successors);
                order(&mut predecessors);
                NodeDescription {
                    successors: names(&successors),
                    predecessors: names(&predecessors),
                    ..nodes[member].clone()
                }
            })
            .collect();
        subtopologies.push(Subtopology { id, global, nodes });
    }
    TopologyDescription { subtopologies }
}

fn join_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Topologies:\n")?;
        for subtopology in &self.subtopologies {
            if subtopology.global {
                writeln!(
                    f,
                    "   Sub-topology: {} for global store (will not generate tasks)",
                    subtopology.id
                )?;
            } else {
                writeln!(f, "   Sub-topology: {}", subtopology.id)?;
            }
            for node in &subtopology.nodes {
                let successors = join_or_none(&node.successors);
                let predecessors = join_or_none(&node.predecessors);
                match &node.role {
                    NodeRole::Source { topics } => {
                        writeln!(
                            f,
                            "    Source: {} (topics: [{}])",
                            node.name,
                            topics.join(", ")
                        )?;
                        writeln!(f, "      --> {successors}")?;
                    }
                    NodeRole::Processor => {
                        writeln!(
                            f,
                            "    Processor: {} (stores: [{}])",
                            node.name,
                            node.stores.join(", ")
                        )?;
                        writeln!(f, "      --> {successors}")?;
                        writeln!(f, "      <-- {predecessors}")?;
                    }
                    NodeRole::Sink { topic } => {
                        writeln!(f, "    Sink: {} (topic: {topic})", node.name)?;
                        writeln!(f, "      <-- {predecessors}")?;
                    }
                }
            }
            f.write_str("\n")?;
        }
        Ok(())
    }
}

/// Quotes a string for dot and Mermaid labels.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

impl TopologyDescription {
    /// Topics read or written, in first-mention order.
    fn topics(&self) -> Vec<&str> {
        let mut topics: Vec<&str> = Vec::new();
        for node in self.subtopologies.iter().flat_map(|s| &s.nodes) {
            let mentioned: Vec<&str> = match &node.role {
                NodeRole::Source { topics } => topics.iter().map(String::as_str).collect(),
                NodeRole::Processor => Vec::new(),
                NodeRole::Sink { topic } => vec![topic.as_str()],
            };
            for topic in mentioned {
                if !topics.contains(&topic) {
                    topics.push(topic);
                }
            }
        }
        topics
    }

    /// Stores, in first-mention order.
    fn stores(&self) -> Vec<&str> {
        let mut stores: Vec<&str> = Vec::new();
        for store in self
            .subtopologies
            .iter()
            .flat_map(|s| &s.nodes)
            .flat_map(|n| &n.stores)
        {
            if !stores.contains(&store.as_str()) {
                stores.push(store);
            }
        }
        stores
    }

    /// Every edge: topic → source, node → successor, sink → topic, node → its stores.
    fn edges(&self) -> Vec<(Endpoint<'_>, Endpoint<'_>)> {
        let mut edges = Vec::new();
        for node in self.subtopologies.iter().flat_map(|s| &s.nodes) {
            let this = Endpoint::Node(&node.name);
            edges.extend(node.stores.iter().map(|s| (this, Endpoint::Store(s))));
            match &node.role {
                NodeRole::Source { topics } => {
                    edges.extend(topics.iter().map(|t| (Endpoint::Topic(t), this)))
                }
                NodeRole::Sink { topic } => edges.push((this, Endpoint::Topic(topic))),
                NodeRole::Processor => {}
            }
            edges.extend(node.successors.iter().map(|s| (this, Endpoint::Node(s))));
        }
        edges
    }

    /// The topology as a Graphviz digraph: one cluster per sub-topology, topics as cylinders.
    /// Ids are `topic:<name>` and `node:<name>`, labels the bare names.
    pub fn to_dot(&self) -> String {
        let id = |endpoint: Endpoint<'_>| match endpoint {
            Endpoint::Topic(name) => quoted(&format!("topic:{name}")),
            Endpoint::Node(name) => quoted(&format!("node:{name}")),
            Endpoint::Store(name) => quoted(&format!("store:{name}")),
        };
        let mut out = String::from("digraph topology {\n  rankdir=LR;\n");
        for topic in self.topics() {
            let _ = writeln!(
                out,
                "  {} [shape=cylinder, label={}];",
                id(Endpoint::Topic(topic)),
                quoted(topic)
            );
        }
        for store in self.stores() {
            let _ = writeln!(
                out,
                "  {} [shape=folder, label={}];",
                id(Endpoint::Store(store)),
                quoted(store)
            );
        }
        for subtopology in &self.subtopologies {
            let _ = writeln!(out, "  subgraph cluster_{} {{", subtopology.id);
            let _ = writeln!(
                out,
                "    label={};",
                quoted(&format!("Sub-topology: {}", subtopology.id))
            );
            for node in &subtopology.nodes {
                let shape = match node.role {
                    NodeRole::Source { .. } | NodeRole::Sink { .. } => "ellipse",
                    NodeRole::Processor => "box",
                };
                let _ = writeln!(
                    out,
                    "    {} [shape={shape}, label={}];",
                    id(Endpoint::Node(&node.name)),
                    quoted(&node.name)
                );
            }
            out.push_str("  }\n");
        }
        for (from, to) in self.edges() {
            let style = if matches!(to, Endpoint::Store(_)) {
                " [style=dashed, arrowhead=none]"
            } else {
                ""
            };
            let _ = writeln!(out, "  {} -> {}{style};", id(from), id(to));
        }
        out.push_str("}\n");
        out
    }

    // Mermaid walks the graph as DOT does, with another syntax per node and edge.
    /// The topology as a Mermaid flowchart: one subgraph per sub-topology, topics as cylinders.
    /// Ids are `t<i>` for topics, `n<i>` for nodes and `d<i>` for stores (Mermaid ids cannot hold
    /// dots).
    pub fn to_mermaid(&self) -> String {
        let topics = self.topics();
        let stores = self.stores();
        let nodes: Vec<&str> = self
            .subtopologies
            .iter()
            .flat_map(|s| &s.nodes)
            .map(|n| n.name.as_str())
            .collect();
        let id = |endpoint: Endpoint<'_>| match endpoint {
            Endpoint::Topic(name) => format!(
                "t{}",
                topics.iter().position(|t| *t == name).unwrap_or_default()
            ),
            Endpoint::Node(name) => format!(
                "n{}",
                nodes.iter().position(|n| *n == name).unwrap_or_default()
            ),
            Endpoint::Store(name) => format!(
                "d{}",
                stores.iter().position(|s| *s == name).unwrap_or_default()
            ),
        };
        let mut out = String::from("flowchart LR\n");
        for topic in &topics {
            let _ = writeln!(out, "  {}[({})]", id(Endpoint::Topic(topic)), quoted(topic));
        }
        for store in &stores {
            let _ = writeln!(out, "  {}[/{}/]", id(Endpoint::Store(store)), quoted(store));
        }
        for subtopology in &self.subtopologies {
            let label = quoted(&format!("Sub-topology: {}", subtopology.id));
            let _ = writeln!(out, "  subgraph s{}[{label}]", subtopology.id);
            for node in &subtopology.nodes {
                let _ = writeln!(
                    out,
                    "    {}[{}]",
                    id(Endpoint::Node(&node.name)),
                    quoted(&node.name)
                );
            }
            out.push_str("  end\n");
        }
        for (from, to) in self.edges() {
            let arrow = if matches!(to, Endpoint::Store(_)) {
                "---"
            } else {
                "-->"
            };
            let _ = writeln!(out, "  {} {arrow} {}", id(from), id(to));
        }
        out
    }
}

/// One end of a drawn edge: a topic or a node, by name.
#[derive(Debug, Clone, Copy)]
enum Endpoint<'d> {
    Topic(&'d str),
    Node(&'d str),
    Store(&'d str),
}
