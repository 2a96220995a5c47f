//! GraphDef ⇄ Graph, losslessly. Loading is two-phase: every node first, then
//! the edges by name, so inputs may name nodes that come later in the file.

use super::IrError;
use super::attrs::check_tensor_attrs;
use super::graph::{Edge, Graph, Node, NodeId};
use super::input_name::{InputName, format_input, parse_input};
use crate::format::node_def_ref::{AttrsRef, NodeDefRef};
use crate::format::proto::{FunctionDefLibrary, GraphDef, NodeDef};

/// The tensors in every function body's node attrs, each error naming
/// `function/node`.
fn check_library_tensors(library: Option<&FunctionDefLibrary>) -> Result<(), IrError> {
    for function in library.into_iter().flat_map(|l| &l.function) {
        let function_name = function.signature.as_ref().map_or("", |s| s.name.as_str());
        for node in &function.node_def {
            check_tensor_attrs(&format!("{function_name}/{}", node.name), &node.attr)?;
        }
    }
    Ok(())
}

/// Input `input` of node `id`, parsed, and the node it names; errors name
/// both (the consumer's name is copied only then).
fn resolve_input<'i>(
    graph: &Graph,
    id: NodeId,
    input: &'i str,
) -> Result<(InputName<'i>, NodeId), IrError> {
    let consumer = graph.name(id);
    let parsed = parse_input(consumer, input)?;
    let producer_name = match parsed {
        InputName::Data { node, .. } | InputName::Control { node } => node,
    };
    let producer = graph
        .find(producer_name)
        .ok_or_else(|| IrError::UnknownInput {
            node: consumer.to_string(),
            input: input.to_string(),
        })?;
    Ok((parsed, producer))
}

/// One input of a node as a reader resolved it: its producer's position
/// among the NodeDefs given to [`Graph::from_resolved_node_defs`], and the
/// producer's output port, or `None` for a control input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedInput {
    pub producer: usize,
    pub port: Option<usize>,
}

impl Graph {
    /// Builds the IR of a GraphDef; fails on dangling inputs, duplicate names,
    /// data inputs after control inputs, and malformed tensors in attrs (a
    /// Const's shape, content and size, checked before anything uses them),
    /// in the graph and in its function library.
    pub fn from_graph_def(mut graph_def: GraphDef) -> Result<Graph, IrError> {
        let nodes = std::mem::take(&mut graph_def.node);
        Graph::from_node_defs(graph_def, nodes)
    }

    /// [`Graph::from_graph_def`] of `graph_def`'s other fields and the
    /// NodeDefs `nodes` yields (`graph_def`'s own nodes come first): a
    /// reader can decode NodeDefs one by one into the graph, so that no
    /// node's decoded form outlives its move into the IR.
    pub fn from_node_defs(
        graph_def: GraphDef,
        nodes: impl IntoIterator<Item = NodeDef>,
    ) -> Result<Graph, IrError> {
        let (mut graph, own) = Graph::of_graph_def_fields(graph_def)?;
        let inputs = graph.add_node_defs(own.into_iter().chain(nodes))?;
        graph.add_input_edges(inputs)?;
        Ok(graph)
    }

    /// [`Graph::from_node_defs`] for a reader that has resolved every
    /// node's inputs already: `inputs_of(position)` gives those of the
    /// node at that position among the NodeDefs (`graph_def`'s own first),
    /// and the NodeDefs' input strings are not read — nothing is parsed or
    /// looked up by name again.
    pub fn from_resolved_node_defs<I>(
        graph_def: GraphDef,
        nodes: impl IntoIterator<Item = NodeDef>,
        inputs_of: impl Fn(usize) -> I,
    ) -> Result<Graph, IrError>
    where
        I: IntoIterator<Item = ResolvedInput>,
    {
        let (mut graph, own) = Graph::of_graph_def_fields(graph_def)?;
        let ids: Vec<NodeId> = graph
            .add_node_defs(own.into_iter().chain(nodes))?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut control_order = 0u32;
        for (position, &id) in ids.iter().enumerate() {
            let mut slot = 0;
            let mut seen_control = false;
            for input in inputs_of(position) {
                let producer =
                    ids.get(input.producer)
                        .copied()
                        .ok_or_else(|| IrError::UnknownInput {
                            node: graph.name(id).to_string(),
                            input: format!("node #{}", input.producer),
                        })?;
                let edge = match input.port {
                    Some(_) if seen_control => {
                        return Err(IrError::DataAfterControl {
                            node: graph.name(id).to_string(),
                        });
                    }
                    Some(port) => {
                        slot += 1;
                        Edge::Data {
                            src_port: port,
                            dst_slot: slot - 1,
                        }
                    }
                    None => {
                        seen_control = true;
                        control_order += 1;
                        Edge::Control {
                            order: control_order - 1,
                        }
                    }
                };
                graph.add_raw_edge(producer, id, edge);
            }
        }
        Ok(graph)
    }

    /// A graph with no node yet but `graph_def`'s other fields (its
    /// library's tensors checked), and `graph_def`'s own nodes.
    #[allow(deprecated)] // the legacy `version` field is carried, not used
    fn of_graph_def_fields(graph_def: GraphDef) -> Result<(Graph, Vec<NodeDef>), IrError> {
        let GraphDef {
            node,
            versions,
            version,
            library,
            debug_info,
        } = graph_def;
        check_library_tensors(library.as_ref())?;
        let mut graph = Graph::new();
        graph.library = library;
        graph.versions = versions;
        graph.legacy_version = version;
        graph.debug_info = debug_info;
        Ok((graph, node))
    }

    /// Adds every NodeDef as a node without its inputs (an input may name a
    /// node further on); returns each node's input strings for
    /// [`add_input_edges`](Self::add_input_edges), once every name is known.
    fn add_node_defs(
        &mut self,
        nodes: impl Iterator<Item = NodeDef>,
    ) -> Result<Vec<(NodeId, Vec<String>)>, IrError> {
        let expected = nodes.size_hint().0;
        self.reserve_nodes(expected);
        let mut inputs: Vec<(NodeId, Vec<String>)> = Vec::with_capacity(expected);
        for def in nodes {
            let NodeDef {
                name,
                op,
                input,
                device,
                attr,
                experimental_debug_info,
                experimental_type,
            } = def;
            check_tensor_attrs(&name, &attr)?;
            let mut node = Node::new(name, op);
            node.device = device;
            node.attrs = attr.into();
            node.debug_info = experimental_debug_info;
            node.full_type = experimental_type;
            let id = self.add_node(node)?;
            inputs.push((id, input));
        }
        Ok(inputs)
    }

    /// Turns each node's input strings into edges: data inputs into slots
    /// `0..n` in order, control inputs numbered across the whole graph so
    /// the GraphDef is written back in the same order. A data input after a
    /// control input is an error, as in TensorFlow.
    fn add_input_edges(&mut self, inputs: Vec<(NodeId, Vec<String>)>) -> Result<(), IrError> {
        let mut control_order = 0u32;
        for (id, names) in inputs {
            let mut slot = 0;
            let mut seen_control = false;
            for input in &names {
                let (parsed, producer) = resolve_input(self, id, input)?;
                match parsed {
                    InputName::Data { port, .. } => {
                        if seen_control {
                            return Err(IrError::DataAfterControl {
                                node: self.name(id).to_string(),
                            });
                        }
                        self.add_raw_edge(
                            producer,
                            id,
                            Edge::Data {
                                src_port: port,
                                dst_slot: slot,
                            },
                        );
                        slot += 1;
                    }
                    InputName::Control { .. } => {
                        seen_control = true;
                        self.add_raw_edge(
                            producer,
                            id,
                            Edge::Control {
                                order: control_order,
                            },
                        );
                        control_order += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// The NodeDef input strings of one node, rebuilt from its edges: data
    /// inputs by slot (`node` or `node:port`), then control inputs (`^node`).
    pub fn node_inputs(&self, id: NodeId) -> Vec<String> {
        let data = self.data_inputs(id).into_iter().map(|t| {
            format_input(&InputName::Data {
                node: self.name(t.node),
                port: t.port,
            })
        });
        let control = self
            .control_inputs(id)
            .into_iter()
            .map(|c| format_input(&InputName::Control { node: self.name(c) }));
        data.chain(control).collect()
    }

    /// The NodeDef of one node, inputs rebuilt from its edges.
    pub fn node_def(&self, id: NodeId) -> NodeDef {
        let input = self.node_inputs(id);
        self.node_def_ref(id, &input).to_owned()
    }

    /// The NodeDef of one node, borrowed from the graph, with its inputs
    /// as [`Graph::node_inputs`] gives them: for encoding it without a copy.
    pub fn node_def_ref<'a>(&'a self, id: NodeId, input: &'a [String]) -> NodeDefRef<'a> {
        let node = self.node(id);
        NodeDefRef {
            name: node.name(),
            op: &node.op,
            input,
            device: &node.device,
            attr: AttrsRef::Sorted(&node.attrs),
            debug_info: node.debug_info.as_ref(),
            full_type: node.full_type.as_ref(),
        }
    }

    /// [`Graph::to_graph_def`], consuming the graph: attrs move into the
    /// NodeDefs instead of being copied.
    #[allow(deprecated)]
    pub fn into_graph_def(mut self) -> GraphDef {
        let ids = self.node_ids();
        let inputs: Vec<Vec<String>> = ids.iter().map(|&id| self.node_inputs(id)).collect();
        let node = ids
            .into_iter()
            .zip(inputs)
            .filter_map(|(id, input)| {
                let node = self.take_node(id)?;
                Some(NodeDef {
                    name: node.name().to_string(),
                    op: node.op,
                    input,
                    device: node.device,
                    attr: node.attrs.into(),
                    experimental_debug_info: node.debug_info,
                    experimental_type: node.full_type,
                })
            })
            .collect();
        GraphDef {
            node,
            versions: self.versions,
            version: self.legacy_version,
            library: self.library,
            debug_info: self.debug_info,
        }
    }

    /// The GraphDef of the graph, nodes in graph order.
    pub fn to_graph_def(&self) -> GraphDef {
        GraphDef {
            node: self
                .node_ids()
                .into_iter()
                .map(|id| self.node_def(id))
                .collect(),
            ..self.graph_def_without_nodes()
        }
    }

    /// The GraphDef's fields other than its nodes (versions, function
    /// library, debug info): for a writer that encodes the nodes apart.
    #[allow(deprecated)]
    pub fn graph_def_without_nodes(&self) -> GraphDef {
        GraphDef {
            node: Vec::new(),
            versions: self.versions.clone(),
            version: self.legacy_version,
            library: self.library.clone(),
            debug_info: self.debug_info.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::attr_value::Value;
    use crate::format::proto::{AttrValue, VersionDef};
    use prost::Message;

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..NodeDef::default()
        }
    }

    fn sample() -> GraphDef {
        let mut add = node("add", "AddV2", &["b:1", "a", "^c", "^a"]);
        add.device = "/device:CPU:0".into();
        add.attr.insert(
            "T".into(),
            AttrValue {
                value: Some(Value::Type(1)),
            },
        );
        GraphDef {
            // Consumers before producers, to exercise two-phase loading.
            node: vec![
                add,
                node("a", "Const", &[]),
                node("b", "Split", &["a"]),
                node("c", "NoOp", &[]),
            ],
            versions: Some(VersionDef {
                producer: 1987,
                min_consumer: 12,
                bad_consumers: vec![3],
            }),
            ..GraphDef::default()
        }
    }

    #[test]
    fn round_trip_is_lossless() {
        let original = sample();
        let graph = Graph::from_graph_def(original.clone()).unwrap();
        let back = graph.to_graph_def();
        assert_eq!(back, original);
        assert_eq!(graph.into_graph_def(), original);
        assert_eq!(back.encode_to_vec(), original.encode_to_vec());
    }

    /// `sample()`'s inputs as a reader would resolve them, by position.
    fn resolved_sample_inputs(position: usize) -> Vec<ResolvedInput> {
        let data = |producer, port| ResolvedInput {
            producer,
            port: Some(port),
        };
        let control = |producer| ResolvedInput {
            producer,
            port: None,
        };
        match position {
            0 => vec![data(2, 1), data(1, 0), control(3), control(1)],
            2 => vec![data(1, 0)],
            _ => vec![],
        }
    }

    #[test]
    fn resolved_inputs_build_the_graph_their_strings_do() {
        let original = sample();
        let mut without_strings = original.clone();
        let nodes: Vec<NodeDef> = std::mem::take(&mut without_strings.node)
            .into_iter()
            .map(|node| NodeDef {
                input: vec!["ignored".into()],
                ..node
            })
            .collect();
        let graph =
            Graph::from_resolved_node_defs(without_strings, nodes, resolved_sample_inputs).unwrap();
        assert_eq!(graph.to_graph_def(), original);
    }

    #[test]
    fn resolved_inputs_out_of_range_or_data_after_control_are_refused() {
        let mut rest = sample();
        let nodes = std::mem::take(&mut rest.node);
        let beyond = |position: usize| {
            let mut inputs = resolved_sample_inputs(position);
            inputs.extend((position == 2).then_some(ResolvedInput {
                producer: 9,
                port: Some(0),
            }));
            inputs
        };
        let err = Graph::from_resolved_node_defs(rest.clone(), nodes.clone(), beyond).unwrap_err();
        assert!(
            matches!(err, IrError::UnknownInput { ref node, .. } if node == "b"),
            "{err}"
        );
        let late_data = |position: usize| {
            let mut inputs = resolved_sample_inputs(position);
            inputs.extend((position == 0).then_some(ResolvedInput {
                producer: 1,
                port: Some(0),
            }));
            inputs
        };
        let err = Graph::from_resolved_node_defs(rest, nodes, late_data).unwrap_err();
        assert!(
            matches!(err, IrError::DataAfterControl { ref node } if node == "add"),
            "{err}"
        );
    }

    #[test]
    fn dangling_input_names_node_and_input() {
        let mut def = sample();
        def.node[0].input[1] = "nowhere:0".into();
        let err = Graph::from_graph_def(def).unwrap_err();
        assert!(
            matches!(&err, IrError::UnknownInput { node, input } if node == "add" && input == "nowhere:0"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut def = sample();
        def.node.push(node("a", "Const", &[]));
        assert!(matches!(
            Graph::from_graph_def(def),
            Err(IrError::DuplicateName { .. })
        ));
    }

    #[test]
    fn data_after_control_is_refused() {
        let def = GraphDef {
            node: vec![node("a", "Const", &[]), node("b", "Identity", &["^a", "a"])],
            ..Default::default()
        };
        assert!(matches!(
            Graph::from_graph_def(def),
            Err(IrError::DataAfterControl { .. })
        ));
    }

    #[test]
    fn rewire_and_remove_keep_slots_and_order() {
        use super::super::TensorRef;
        let mut graph = Graph::from_graph_def(sample()).unwrap();
        let (a, b, add) = (
            graph.find("a").unwrap(),
            graph.find("b").unwrap(),
            graph.find("add").unwrap(),
        );
        // add reads b:1 then a; point add's reads of b:1 at a:0 instead.
        let moved = graph.rewire(TensorRef::new(b, 1), TensorRef::new(a, 0));
        assert_eq!(moved, 1);
        assert_eq!(graph.node_def(add).input, ["a", "a", "^c", "^a"]);
        graph.remove_node(graph.find("c").unwrap());
        assert_eq!(graph.node_def(add).input, ["a", "a", "^a"]);
        graph.validate().unwrap();
    }

    #[test]
    fn cycles_outside_while_loops_are_errors() {
        let def = GraphDef {
            node: vec![node("a", "Identity", &["b"]), node("b", "Identity", &["a"])],
            ..Default::default()
        };
        let graph = Graph::from_graph_def(def).unwrap();
        assert!(matches!(
            graph.topological_order(),
            Err(IrError::Cycle { .. })
        ));
        let def = GraphDef {
            node: vec![
                node("start", "Const", &[]),
                node("merge", "Merge", &["start", "next"]),
                node("next", "NextIteration", &["merge"]),
            ],
            ..Default::default()
        };
        let graph = Graph::from_graph_def(def).unwrap();
        assert_eq!(graph.topological_order().unwrap().len(), 3);
    }

    fn const_node(name: &str, dims: &[i64], content: &[u8]) -> NodeDef {
        let mut n = node(name, "Const", &[]);
        let value = crate::format::proto::TensorProto {
            dtype: crate::format::proto::DataType::DtFloat as i32,
            tensor_shape: Some(crate::typing::shape_proto(dims)),
            tensor_content: bytes::Bytes::copy_from_slice(content),
            ..Default::default()
        };
        n.attr.insert(
            "value".into(),
            AttrValue {
                value: Some(Value::Tensor(value.into())),
            },
        );
        n
    }

    fn bad_tensor(def: GraphDef) -> (String, String, crate::format::tensor::TensorError) {
        match Graph::from_graph_def(def) {
            Err(IrError::BadTensor { node, attr, source }) => (node, attr, source),
            other => panic!("expected a bad tensor, got {other:?}"),
        }
    }

    #[test]
    fn a_const_claiming_2_pow_40_elements_without_content_is_refused_on_read() {
        let def = GraphDef {
            node: vec![const_node("huge", &[1 << 20, 1 << 20], &[])],
            ..Default::default()
        };
        let (node, attr, source) = bad_tensor(def);
        assert_eq!((node.as_str(), attr.as_str()), ("huge", "value"));
        assert!(matches!(
            source,
            crate::format::tensor::TensorError::TooLarge { .. }
        ));
    }

    #[test]
    fn tensor_content_off_by_one_is_refused_on_read_naming_the_node() {
        let def = GraphDef {
            node: vec![
                const_node("good", &[2], &[0; 8]),
                const_node("short", &[2], &[0; 7]),
            ],
            ..Default::default()
        };
        let err = Graph::from_graph_def(def).unwrap_err();
        assert!(
            err.to_string().contains("\"short\"")
                && err
                    .to_string()
                    .contains("7 bytes of content for 8 expected"),
            "{err}"
        );
    }

    #[test]
    fn consts_in_function_bodies_and_nested_func_attrs_are_checked() {
        use crate::format::proto::{FunctionDef, FunctionDefLibrary, NameAttrList, OpDef};
        let body = FunctionDef {
            signature: Some(OpDef {
                name: "f".into(),
                ..Default::default()
            }),
            node_def: vec![const_node("c", &[3], &[0; 13])],
            ..Default::default()
        };
        let def = GraphDef {
            library: Some(FunctionDefLibrary {
                function: vec![body],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(bad_tensor(def).0, "f/c");

        // A tensor inside the attrs of a function named by an attr.
        let inner = const_node("x", &[1], &[0; 3]).attr;
        let mut call = node("call", "PartitionedCall", &[]);
        call.attr.insert(
            "f".into(),
            AttrValue {
                value: Some(Value::Func(NameAttrList {
                    name: "g".into(),
                    attr: inner,
                })),
            },
        );
        let def = GraphDef {
            node: vec![call],
            ..Default::default()
        };
        assert_eq!(bad_tensor(def).1, "f");
    }
}
