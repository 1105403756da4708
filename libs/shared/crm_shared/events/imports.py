"""Events published by the imports service (schema version 1)."""
from crm_shared.events._base import Dict, Int, List, Payload, Str

SOURCE = "imports"


class ImportProgress(Payload):
    import_id = Str(required=True)
    status = Str(required=True)
    step = Int(required=True)
    progress = Int(required=True)


class ImportCompleted(Payload):
    import_id = Str(required=True)
    user_id = Str(allow_none=True)
    file_name = Str(allow_none=True)
    summary = Dict(required=True)
    created_contact_ids = List(Str(), load_default=list)
    merged_contact_ids = List(Str(), load_default=list)


class ImportUndone(Payload):
    import_id = Str(required=True)
    user_id = Str(allow_none=True)
    removed_contact_ids = List(Str(), load_default=list)
    restored_contact_ids = List(Str(), load_default=list)


class FormDataImported(Payload):
    """Form answers from an imported row that scoring and tagging use."""

    contact_id = Str(required=True)
    import_id = Str(required=True)
    fields = Dict(required=True)


SCHEMAS = {
    "import_progress": ImportProgress,
    "import_completed": ImportCompleted,
    "import_undone": ImportUndone,
    "form_data_imported": FormDataImported,
}
