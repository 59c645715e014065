"""The few Hadoop FileSystem calls publishing needs: local disk, HDFS, S3A, ABFS alike.

Spark's own JVM does the work, so paths mean the same to the writer as to Spark's readers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from idres_spark.errors import StorageError

SCHEMAS_FILE = "_schemas.json"  # in a run folder: each table's schema as it was written


class FileSystem:
    def __init__(self, spark: SparkSession, root: str) -> None:
        self._spark = spark
        jvm = spark.sparkContext._jvm
        self._path_cls = jvm.org.apache.hadoop.fs.Path
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = self._path_cls(root).getFileSystem(self._conf)

    def _path(self, text: str):
        return self._path_cls(text)

    def exists(self, text: str) -> bool:
        return bool(self._fs.exists(self._path(text)))

    def delete(self, text: str) -> None:
        if self.exists(text):
            self._fs.delete(self._path(text), True)

    def delete_if_empty(self, text: str) -> None:
        """Remove a folder only while it is empty (another run may be filling it)."""
        if self.exists(text) and not self.list_names(text):
            # when it filled up in between, it stays, as it should
            with contextlib.suppress(Exception):
                self._fs.delete(self._path(text), False)

    def mkdirs(self, text: str, private: bool = False) -> None:
        """Create a folder (and its parents); ``private``: readable by its owner only (700)."""
        if not self._fs.mkdirs(self._path(text)):
            raise StorageError(
                f"cannot create the folder {text} (permission denied, a read-only file system, "
                "or a file in the way); give the job's user write access to `output.path`, or "
                "point it elsewhere, then re-run",
                code="output_not_writable",
            )
        if private:
            jvm = self._spark.sparkContext._jvm
            owner_only = jvm.org.apache.hadoop.fs.permission.FsPermission("700")
            self._fs.setPermission(self._path(text), owner_only)

    def rename(self, src: str, dst: str) -> bool:
        """Rename to a path that does not exist yet; False when the destination exists."""
        self._fs.mkdirs(self._path(dst).getParent())
        return bool(self._fs.rename(self._path(src), self._path(dst)))

    def _qualified(self, text: str):
        path = self._path(text)
        return path.getFileSystem(self._conf).makeQualified(path)

    def qualify(self, text: str) -> str:
        """The fully qualified form of ``text`` (scheme, authority, absolute path), so two
        spellings of one place compare equal."""
        return str(self._qualified(text)).rstrip("/")

    def is_root(self, text: str) -> bool:
        """Whether ``text`` is the root of its file system (``/``, ``s3a://bucket/``)."""
        return bool(self._qualified(text).isRoot())

    def is_dir(self, text: str) -> bool:
        return self.exists(text) and bool(self._fs.getFileStatus(self._path(text)).isDirectory())

    def list_names(self, text: str) -> list[str]:
        if not self.exists(text):
            return []
        return sorted(str(s.getPath().getName()) for s in self._fs.listStatus(self._path(text)))

    def copy_tree(self, src: str, dst: str) -> None:
        """Copy the folder ``src`` (a table: its data files and partition folders) to ``dst``,
        which must not exist yet; file by file, through the file system (on object stores
        the copy happens in the store), never through Spark. Spark's commit marker
        ``_SUCCESS`` stays behind: the writer that fills ``dst`` next writes its own."""
        jvm = self._spark.sparkContext._jvm
        source, target = self._path(src), self._path(dst)
        if self.exists(dst):
            raise StorageError(f"cannot copy {src} to {dst}: it exists", code="copy_target_exists")
        if self._fs.getScheme() == "file" and _hard_link_tree(
            str(self._qualified(src).toUri().getPath()), str(self._qualified(dst).toUri().getPath())
        ):
            return  # on a local disk the files are linked, not copied: both names, one file
        if not jvm.org.apache.hadoop.fs.FileUtil.copy(
            self._fs, source, target.getFileSystem(self._conf), target, False, self._conf
        ):
            raise StorageError(f"cannot copy {src} to {dst}", code="copy_failed")
        success = f"{dst.rstrip('/')}/_SUCCESS"
        if self.exists(success):
            self._fs.delete(self._path(success), False)

    def write_text(self, text: str, content: str) -> None:
        stream = self._fs.create(self._path(text), True)
        try:
            stream.write(bytearray(content.encode("utf-8")))
        finally:
            stream.close()

    def read_text(self, text: str) -> str:
        """A small text file's content (pointers, metrics), read through the file system
        without a Spark job. On local disk the checksum file is not consulted, so a pointer
        edited by hand (as docs/operations.md allows) still reads."""
        fs = self._fs
        if fs.getScheme() == "file":  # LocalFileSystem checks .crc files; its raw one does not
            fs = fs.getRawFileSystem()
        jvm = self._spark.sparkContext._jvm
        buffer = jvm.java.io.ByteArrayOutputStream()
        stream = fs.open(self._path(text))
        try:
            jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, buffer, 65536, False)
        finally:
            stream.close()
        return str(buffer.toString("UTF-8"))


def _hard_link_tree(src: str, dst: str) -> bool:
    """Link every data file of the local folder ``src`` into a new folder ``dst`` (the same
    sub-folders); False, with ``dst`` removed, where the disk does not allow it (another
    device, a file system without hard links). The files of a published run are never
    written again, so sharing them is safe; deleting either name keeps the other."""
    import os
    import shutil

    try:
        for folder, _, files in os.walk(src):
            target = os.path.join(dst, os.path.relpath(folder, src))
            os.makedirs(target, exist_ok=True)
            for name in files:
                if name == "_SUCCESS" or name.endswith(".crc"):
                    continue  # the writer that fills dst next writes its own
                os.link(os.path.join(folder, name), os.path.join(target, name))
        return True
    except OSError:
        shutil.rmtree(dst, ignore_errors=True)
        return False


def save_schemas(spark: SparkSession, folder: str, schemas: dict[str, T.StructType]) -> None:
    """Record in ``folder``'s :data:`SCHEMAS_FILE` the schema each table was written with
    (read back by :func:`table_reader`)."""
    content = {name: json.loads(schema.json()) for name, schema in sorted(schemas.items())}
    FileSystem(spark, folder).write_text(f"{folder}/{SCHEMAS_FILE}", json.dumps(content))


def table_reader(spark: SparkSession, folder: str) -> Callable[[str], DataFrame]:
    """``read(name)``: the parquet table ``folder/name``, with the schema the folder's
    :data:`SCHEMAS_FILE` records for it. Spark infers an unnamed schema from the files'
    footers in a Spark job of its own, 0.1-0.3 s a table on a small run (docs/benchmarks.md);
    a folder written before the file existed, or a table it does not name, is inferred so."""
    fs = FileSystem(spark, folder)
    path = f"{folder}/{SCHEMAS_FILE}"
    known = json.loads(fs.read_text(path)) if fs.exists(path) else {}

    def read(name: str) -> DataFrame:
        reader = spark.read
        if name in known:
            reader = reader.schema(T.StructType.fromJson(known[name]))
        return reader.parquet(f"{folder}/{name}")

    return read
