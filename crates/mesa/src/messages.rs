//! Customer-facing text that the services write (Spanish, as the contract). The e-mails
//! themselves are the rules' templates (`rules/templates/`); what is here are the short
//! messages of validation errors and the notes the services put in a ticket's timeline.
//! A leaf: it imports nothing from the crate.

pub const LEAVE_EMPTY: &str = "Deje este campo vacío.";
pub const FORM_TOO_FAST: &str =
    "El formulario se envió demasiado rápido; revise sus datos y envíelo de nuevo.";
pub const FORM_EXPIRED: &str = "El formulario expiró; recargue la página.";
pub const FORM_INVALID: &str = "El formulario no es válido; recargue la página.";
pub const UPLOAD_NAME: &str = "Indique el nombre del archivo (hasta 200 caracteres).";
pub const UPLOAD_TOKEN_INVALID: &str =
    "Un archivo subido no es válido o expiró; vuelva a anexarlo.";

/// "Cada anexo debe pesar entre 1 byte y 10 MB."
pub fn upload_size(max_bytes: usize) -> String {
    format!(
        "Cada anexo debe pesar entre 1 byte y {} MB.",
        max_bytes / (1024 * 1024)
    )
}

/// An upload that was granted but whose bytes never arrived.
pub fn upload_missing(filename: &str) -> String {
    format!("«{filename}» no terminó de subirse; vuelva a anexarlo.")
}

/// Subject of an e-mail ticket that came without one.
pub const NO_SUBJECT: &str = "(sin asunto)";

/// Required data the contract asks for, named as the acknowledgement asks for them.
pub const MISSING_COMPANY: &str = "Nombre de la empresa";
pub const MISSING_CONTACT_NAME: &str = "Nombre completo del contacto";
pub const MISSING_PHONE: &str = "Teléfono del contacto";
pub const MISSING_SUPPORT_TYPE: &str = "Tipo de soporte";
pub const MISSING_DESCRIPTION: &str = "Descripción del problema";

/// Timeline notes of what the customer's mail did.
pub const CUSTOMER_REPLIED: &str = "El cliente respondió.";
pub const REOPENED_BY_REPLY: &str = "El cliente respondió a un ticket cerrado.";
pub const REOPENED_BY_REPLY_TO_ANSWER: &str =
    "El cliente respondió a la solución: se reabre el seguimiento.";

/// Timeline note of a root cause delivered.
pub const ROOT_CAUSE_DELIVERED: &str = "Se envió al cliente la solución de raíz.";
