"""TensorFlow's three SavedModel loaders, and the tensors they are fed and give back.

The judge (judge.py) runs each function here in a process of its own, forked
from one that has TensorFlow (or, for the C API, only its shared library)
loaded already; nothing here keeps state between calls.

- tf2: tf.saved_model.load(...).signatures[name](**inputs)
- tf1: tf.compat.v1.saved_model.loader.load in a fresh graph-mode session
- capi: TF_LoadSessionFromSavedModel + TF_SessionRun from the wheel's
  libtensorflow_cc.so.2 through ctypes, without importing tensorflow: the C++
  loader that TensorFlow Serving runs.

Tensors travel as {key: {"dtype", "shape", "values": [flat]}} (a string
tensor may say "encoding": "base64" for bytes that are not text).
"""
import base64
import ctypes
import importlib.util
import os

from tally import tally


def as_arrays(spec):
    import numpy as np

    arrays = {}
    for key, t in spec.items():
        if t.get("encoding") == "base64":
            values = [base64.b64decode(v) for v in t["values"]]
            arrays[key] = np.array(values, dtype=object).reshape(t["shape"])
        elif t["dtype"] == "string":
            arrays[key] = np.array([v.encode() for v in t["values"]], dtype=object).reshape(t["shape"])
        else:
            arrays[key] = np.array(t["values"], dtype=t["dtype"]).reshape(t["shape"])
    return arrays


def as_json(array):
    import numpy as np

    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind in "SU":
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
        return {"dtype": "string", "shape": list(array.shape), "values": values}
    return {"dtype": array.dtype.name, "shape": list(array.shape), "values": array.reshape(-1).tolist()}


def compare(outputs, expected, tolerance):
    """({key: max abs diff or None}, [problems]) of a loader's outputs against the expected ones."""
    import numpy as np

    tally("compare", len(expected))
    diffs, problems = {}, []
    for key, want in expected.items():
        got = outputs.get(key)
        if got is None:
            problems.append(f"output {key!r} missing")
            continue
        if got["shape"] != want["shape"]:
            problems.append(f"{key}: shape {got['shape']} != {want['shape']}")
            continue
        if want["dtype"] == "string" or want["dtype"].startswith("int") or want["dtype"] == "bool":
            if got["values"] != want["values"]:
                problems.append(f"{key}: values differ")
            diffs[key] = 0.0 if got["values"] == want["values"] else None
            continue
        diff = float(np.max(np.abs(np.array(got["values"], dtype=np.float64) - np.array(want["values"], dtype=np.float64)), initial=0.0))
        diffs[key] = diff
        if got["dtype"] != want["dtype"]:
            problems.append(f"{key}: dtype {got['dtype']} != {want['dtype']}")
        if not diff <= tolerance:
            problems.append(f"{key}: max abs diff {diff} > {tolerance}")
    return diffs, problems


# --- inputs as serialized tf.Examples ---

SPARSE_PARTS = ("_indices", "_values", "_dense_shape")


def sparse_features(arrays):
    """Names NAME whose NAME_indices, NAME_values and NAME_dense_shape are all given."""
    suffix = SPARSE_PARTS[0]
    names = [k[: -len(suffix)] for k in arrays if k.endswith(suffix)]
    return [n for n in names if all(n + part in arrays for part in SPARSE_PARTS)]


def example_rows(arrays):
    """One {feature: flat values} per example: dense rows, and each sparse
    feature's values of that row (in index order)."""
    import numpy as np

    sparse = sparse_features(arrays)
    sparse_keys = {n + part for n in sparse for part in SPARSE_PARTS}
    dense = {k: v for k, v in arrays.items() if k not in sparse_keys}
    sizes = {len(v) for v in dense.values()} | {int(arrays[n + "_dense_shape"][0]) for n in sparse}
    if len(sizes) != 1:
        raise ValueError(f"inputs disagree on the batch size: {sorted(sizes)}")
    rows = [{k: np.array(v[i], dtype=v.dtype).reshape(-1) for k, v in dense.items()} for i in range(sizes.pop())]
    for name in sparse:
        indices, values = arrays[name + "_indices"], arrays[name + "_values"]
        for i, row in enumerate(rows):
            at = [j for j in range(len(indices)) if indices[j][0] == i]
            at.sort(key=lambda j: tuple(indices[j]))
            row[name] = values[at]
    return rows


def tf_feature(values):
    import tensorflow as tf

    if values.dtype == object or values.dtype.kind in "SU":
        items = [v if isinstance(v, bytes) else str(v).encode() for v in values]
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=items))
    if values.dtype.kind == "f":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values.tolist()))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def examples_spec(spec, key, omit):
    """`spec`'s rows as serialized tf.Example protos (TensorFlow's own
    tf.train.Example), `omit` left out of the first, as {key: base64 strings}."""
    import tensorflow as tf

    rows = example_rows(as_arrays(spec))
    for name in omit:
        rows[0].pop(name)
    examples = [
        tf.train.Example(features=tf.train.Features(feature={k: tf_feature(v) for k, v in row.items()}))
        .SerializeToString()
        for row in rows
    ]
    values = [base64.b64encode(e).decode() for e in examples]
    return {key: {"dtype": "string", "encoding": "base64", "shape": [len(values)], "values": values}}


# --- a minimal protobuf reader, so the C API loader needs no TensorFlow import ---

def fields(data):
    at = 0
    while at < len(data):
        key, at = varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(data, at)
        elif wire == 2:
            length, at = varint(data, at)
            value, at = data[at:at + length], at + length
        elif wire == 1:
            value, at = data[at:at + 8], at + 8
        elif wire == 5:
            value, at = data[at:at + 4], at + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, value


def varint(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def signature_names(export_dir, tags, signature):
    """(inputs {key: tensor}, outputs {key: tensor}) from saved_model.pb."""
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        saved = f.read()
    for number, meta in fields(saved):
        if number != 2:
            continue
        meta_tags, signatures = set(), {}
        for field, value in fields(meta):
            if field == 1:
                meta_tags |= {v.decode() for n, v in fields(value) if n == 4}
            elif field == 5:
                entry = dict(fields(value))
                signatures[entry[1].decode()] = entry.get(2, b"")
        if meta_tags != set(tags) or signature not in signatures:
            continue
        result = ({}, {})
        for field, value in fields(signatures[signature]):
            if field in (1, 2):
                entry = dict(fields(value))
                info = dict(fields(entry.get(2, b"")))
                result[field - 1][entry[1].decode()] = info.get(1, b"").decode()
        return result
    raise KeyError(f"no MetaGraphDef tagged {tags} with signature {signature}")


# --- the loaders: each loads once and runs every signature asked for ---

def run_tf2(export_dir, inputs_by_signature, tags, cpus=0):
    """`cpus` does not apply: the eager runtime places ops itself."""
    import tensorflow as tf

    loaded = tf.saved_model.load(export_dir, tags=tags)
    tally("load")
    results = {}
    for name, inputs in inputs_by_signature.items():
        outputs = loaded.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
        results[name] = {k: v.numpy() for k, v in outputs.items()}
    return results


def run_tf1(export_dir, inputs_by_signature, tags, cpus=0):
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    config = tf.compat.v1.ConfigProto(device_count={"CPU": cpus}) if cpus else None
    with tf.compat.v1.Session(graph=tf.Graph(), config=config) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, tags, export_dir)
        tally("load")
        results = {}
        for name, inputs in inputs_by_signature.items():
            sig = meta.signature_def[name]
            feeds = {sig.inputs[k].name: v for k, v in inputs.items()}
            results[name] = sess.run({k: t.name for k, t in sig.outputs.items()}, feeds)
        return results


def run_capi(export_dir, inputs_by_signature, tags, cpus=0):
    """One load per signature, as a separate TensorFlow Serving model load would."""
    return {name: run_capi_once(export_dir, inputs, name, tags, cpus) for name, inputs in inputs_by_signature.items()}


def session_config(cpus):
    """A serialized ConfigProto asking for `cpus` CPU devices: device_count (field 1) is a
    map<string, int32>, each entry a message of key (1) and value (2)."""
    entry = b"\x0a\x03CPU\x10" + bytes([cpus])
    return b"\x0a" + bytes([len(entry)]) + entry


TF_DTYPES = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "string": 7, "int64": 9, "bool": 10, "float16": 19}


class TF_Output(ctypes.Structure):
    _fields_ = [("oper", ctypes.c_void_p), ("index", ctypes.c_int)]


def c_library():
    """The wheel's libtensorflow_cc.so.2 with the C API's signatures declared
    (found without importing tensorflow)."""
    folder = importlib.util.find_spec("tensorflow").submodule_search_locations[0]
    ctypes.CDLL(os.path.join(folder, "libtensorflow_framework.so.2"), mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(os.path.join(folder, "libtensorflow_cc.so.2"), mode=ctypes.RTLD_GLOBAL)
    p = ctypes.c_void_p
    for name, restype, argtypes in [
        ("TF_NewStatus", p, []), ("TF_GetCode", ctypes.c_int, [p]), ("TF_Message", ctypes.c_char_p, [p]),
        ("TF_NewGraph", p, []), ("TF_NewSessionOptions", p, []),
        ("TF_SetConfig", None, [p, ctypes.c_char_p, ctypes.c_size_t, p]),
        ("TF_LoadSessionFromSavedModel", p, [p, p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, p, p, p]),
        ("TF_GraphOperationByName", p, [p, ctypes.c_char_p]),
        ("TF_AllocateTensor", p, [ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_int, ctypes.c_size_t]),
        ("TF_TensorData", p, [p]), ("TF_TensorByteSize", ctypes.c_size_t, [p]), ("TF_TensorType", ctypes.c_int, [p]),
        ("TF_NumDims", ctypes.c_int, [p]), ("TF_Dim", ctypes.c_int64, [p, ctypes.c_int]), ("TF_DeleteTensor", None, [p]),
        ("TF_SessionRun", None, [p, p, ctypes.POINTER(TF_Output), ctypes.POINTER(p), ctypes.c_int,
                                 ctypes.POINTER(TF_Output), ctypes.POINTER(p), ctypes.c_int, p, ctypes.c_int, p, p]),
        ("TF_CloseSession", None, [p, p]), ("TF_DeleteSession", None, [p, p]),
        ("TF_StringInit", None, [p]), ("TF_StringCopy", None, [p, ctypes.c_char_p, ctypes.c_size_t]),
        ("TF_StringGetDataPointer", p, [p]), ("TF_StringGetSize", ctypes.c_size_t, [p]),
    ]:
        getattr(lib, name).restype = restype
        getattr(lib, name).argtypes = argtypes
    return lib


def run_capi_once(export_dir, inputs, signature, tags, cpus=0):
    import numpy as np

    lib = c_library()
    p = ctypes.c_void_p
    status = lib.TF_NewStatus()

    def check(what):
        if lib.TF_GetCode(status) != 0:
            raise RuntimeError(f"{what}: {lib.TF_Message(status).decode()}")

    graph = lib.TF_NewGraph()
    tag_array = (ctypes.c_char_p * len(tags))(*[t.encode() for t in tags])
    options = lib.TF_NewSessionOptions()
    if cpus:
        config = session_config(cpus)
        lib.TF_SetConfig(options, config, len(config), status)
        check("TF_SetConfig")
    session = lib.TF_LoadSessionFromSavedModel(options, None, export_dir.encode(), tag_array, len(tags), graph, None, status)
    tally("load")  # the C++ loader has given its verdict, a session or a refusal
    check("TF_LoadSessionFromSavedModel")
    input_names, output_names = signature_names(export_dir, tags, signature)

    def output(tensor_name):
        op, _, port = tensor_name.partition(":")
        oper = lib.TF_GraphOperationByName(graph, op.encode())
        if not oper:
            raise RuntimeError(f"no operation {op!r} in the loaded graph")
        return TF_Output(oper, int(port or 0))

    TSTRING = 24  # sizeof(TF_TString) on 64-bit
    keys = sorted(inputs)
    feeds, values = (TF_Output * len(keys))(), (p * len(keys))()
    for i, key in enumerate(keys):
        array = inputs[key]
        dims = (ctypes.c_int64 * array.ndim)(*array.shape)
        if array.dtype == object:
            tensor = lib.TF_AllocateTensor(7, dims, array.ndim, TSTRING * array.size)
            base = lib.TF_TensorData(tensor)
            for j, item in enumerate(array.reshape(-1)):
                lib.TF_StringInit(base + j * TSTRING)
                lib.TF_StringCopy(base + j * TSTRING, item, len(item))
        else:
            data = np.ascontiguousarray(array)
            tensor = lib.TF_AllocateTensor(TF_DTYPES[data.dtype.name], dims, array.ndim, data.nbytes)
            ctypes.memmove(lib.TF_TensorData(tensor), data.ctypes.data, data.nbytes)
        feeds[i], values[i] = output(input_names[key]), tensor
    out_keys = sorted(output_names)
    fetches = (TF_Output * len(out_keys))(*[output(output_names[k]) for k in out_keys])
    results = (p * len(out_keys))()
    lib.TF_SessionRun(session, None, feeds, values, len(keys), fetches, results, len(out_keys), None, 0, None, status)
    check("TF_SessionRun")
    by_code = {v: k for k, v in TF_DTYPES.items()}
    outputs = {}
    for key, tensor in zip(out_keys, results):
        shape = [lib.TF_Dim(tensor, d) for d in range(lib.TF_NumDims(tensor))]
        dtype = by_code[lib.TF_TensorType(tensor)]
        count = int(np.prod(shape)) if shape else 1
        base = lib.TF_TensorData(tensor)
        if dtype == "string":
            items = [ctypes.string_at(lib.TF_StringGetDataPointer(base + j * TSTRING), lib.TF_StringGetSize(base + j * TSTRING)) for j in range(count)]
            outputs[key] = np.array(items, dtype=object).reshape(shape)
        else:
            raw = ctypes.string_at(base, lib.TF_TensorByteSize(tensor))
            outputs[key] = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        lib.TF_DeleteTensor(tensor)
    lib.TF_CloseSession(session, status)
    lib.TF_DeleteSession(session, status)
    return outputs


LOADERS = {"tf2": run_tf2, "tf1": run_tf1, "capi": run_capi}


def run_loader(loader, export_dir, inputs_by_signature, tags, cpus=0):
    """{signature: {output key: tensor JSON}} from one loader."""
    arrays = {name: as_arrays(spec) for name, spec in inputs_by_signature.items()}
    results = LOADERS[loader](export_dir, arrays, tags, cpus)
    return {name: {k: as_json(v) for k, v in outputs.items()} for name, outputs in results.items()}


def list_variables(export_dir, tags):
    """Every variable reachable from the root tf.saved_model.load restores,
    with its first (breadth-first) object path."""
    import tensorflow as tf

    loaded = tf.saved_model.load(export_dir, tags=tags)
    tally("load")
    view = tf.train.TrackableView(loaded)
    paths, queue, listed = {id(loaded): ""}, [loaded], []
    while queue:
        obj = queue.pop(0)
        for local_name, child in view.children(obj).items():
            if id(child) in paths:
                continue
            path = f"{paths[id(obj)]}/{escape(local_name)}".lstrip("/")
            paths[id(child)] = path
            queue.append(child)
            if isinstance(child, tf.Variable):
                listed.append({"path": path, "name": child.name.split(":")[0],
                               "dtype": child.dtype.name, "shape": child.shape.as_list()})
    return sorted(listed, key=lambda v: v["path"])


def escape(local_name):
    """A child name as a checkpoint key writes it: "/" as ".S", "." as ".."."""
    return local_name.replace(".", "..").replace("/", ".S")
