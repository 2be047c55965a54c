"""Every user-facing message of the API, in each supported language.

Keys are stable (``area.what``); values are ``str.format`` templates whose placeholders must
be the same in every language. ``problem.<slug>`` keys are the titles of the problem types in
``api.core.problems``. Each ``detail`` is one sentence that says what to do. Spanish uses
"usted", French "vous". French is written here with plain spaces; ``api.core.i18n`` turns the
space before ; : ! ? » and after « into a no-break space, so lines never break there.

Add a key here, then raise ``Problem(slug, msg("area.what", name=value))``;
``tests/api/test_languages.py`` checks that every key has every language and the same
placeholders, and that every ``msg()`` in ``api/`` names a key that exists.
"""

from __future__ import annotations

from typing import Final

MESSAGES: Final[dict[str, dict[str, str]]] = {
    # --- problem titles, one per problem type -------------------------------------------
    "problem.validation-error": {
        "en": "Your request has invalid fields",
        "es": "Su solicitud tiene campos no válidos",
        "fr": "Votre requête contient des champs non valides",
    },
    "problem.bad-request": {
        "en": "Bad request",
        "es": "Solicitud incorrecta",
        "fr": "Requête incorrecte",
    },
    "problem.unauthenticated": {
        "en": "Sign-in required",
        "es": "Es necesario iniciar sesión",
        "fr": "Connexion requise",
    },
    "problem.invalid-credentials": {
        "en": "Sign-in failed",
        "es": "No se ha podido iniciar sesión",
        "fr": "Échec de la connexion",
    },
    "problem.session-expired": {
        "en": "Your session has ended",
        "es": "Su sesión ha finalizado",
        "fr": "Votre session a pris fin",
    },
    "problem.mfa-required": {
        "en": "A second factor is required",
        "es": "Se requiere un segundo factor de autenticación",
        "fr": "Un second facteur d'authentification est requis",
    },
    "problem.invalid-mfa-code": {
        "en": "The verification code is not valid",
        "es": "El código de verificación no es válido",
        "fr": "Le code de vérification n'est pas valide",
    },
    "problem.passkey-failed": {
        "en": "Passkey sign-in failed",
        "es": "No se ha podido usar la llave de acceso",
        "fr": "La clé d'accès n'a pas pu être utilisée",
    },
    "problem.forbidden": {
        "en": "Not allowed",
        "es": "Acción no permitida",
        "fr": "Action non autorisée",
    },
    "problem.step-up-required": {
        "en": "Recent verification required",
        "es": "Se requiere una verificación reciente",
        "fr": "Vérification récente requise",
    },
    "problem.not-found": {
        "en": "Not found",
        "es": "No encontrado",
        "fr": "Introuvable",
    },
    "problem.method-not-allowed": {
        "en": "Method not allowed",
        "es": "Método no permitido",
        "fr": "Méthode non autorisée",
    },
    "problem.conflict": {
        "en": "Conflict",
        "es": "Conflicto",
        "fr": "Conflit",
    },
    "problem.weak-password": {
        "en": "Choose a different password",
        "es": "Elija otra contraseña",
        "fr": "Choisissez un autre mot de passe",
    },
    "problem.account-locked": {
        "en": "Account temporarily locked",
        "es": "Cuenta bloqueada temporalmente",
        "fr": "Compte temporairement verrouillé",
    },
    "problem.too-many-requests": {
        "en": "Too many attempts",
        "es": "Demasiados intentos",
        "fr": "Trop de tentatives",
    },
    "problem.not-ready": {
        "en": "Service not ready",
        "es": "El servicio no está listo",
        "fr": "Le service n'est pas prêt",
    },
    "problem.busy": {
        "en": "Service busy",
        "es": "Servicio ocupado",
        "fr": "Service surchargé",
    },
    "problem.database-unavailable": {
        "en": "Database connection lost",
        "es": "Conexión con la base de datos perdida",
        "fr": "Connexion à la base de données perdue",
    },
    "problem.internal-error": {
        "en": "Internal error",
        "es": "Error interno",
        "fr": "Erreur interne",
    },
    # --- requests the framework refuses (api.core.problems handlers) ---------------------
    "request.invalid_field": {
        "en": "Correct {location} and send the request again; "
        "the errors list says what is wrong with each field.",
        "es": "Corrija {location} y vuelva a enviar la solicitud; "
        "la lista errors indica qué falla en cada campo.",
        "fr": "Corrigez {location} et renvoyez la requête ; "
        "la liste errors indique ce qui ne va pas dans chaque champ.",
    },
    "request.bad_request": {
        "en": "The request could not be read; check its format and send it again.",
        "es": "No se ha podido leer la solicitud; revise su formato y vuelva a enviarla.",
        "fr": "La requête n'a pas pu être lue ; vérifiez son format et renvoyez-la.",
    },
    "request.no_route": {
        "en": "There is no resource at this address.",
        "es": "No hay ningún recurso en esta dirección.",
        "fr": "Il n'y a aucune ressource à cette adresse.",
    },
    "request.method_not_allowed": {
        "en": "This address does not accept {method} requests; "
        "use one of the methods in the Allow header.",
        "es": "Esta dirección no acepta solicitudes {method}; "
        "utilice uno de los métodos de la cabecera Allow.",
        "fr": "Cette adresse n'accepte pas les requêtes {method} ; "
        "utilisez l'une des méthodes de l'en-tête Allow.",
    },
    "request.forbidden": {
        "en": "You may not do this; ask an administrator if you need access.",
        "es": "No tiene permiso para hacer esto; si necesita acceso, pídaselo a un administrador.",
        "fr": "Vous n'êtes pas autorisé à faire cela ; "
        "si vous avez besoin d'un accès, demandez-le à un administrateur.",
    },
    "request.conflict": {
        "en": "This conflicts with the current state of the resource; reload it and try again.",
        "es": "Esto entra en conflicto con el estado actual del recurso; "
        "vuelva a cargarlo e inténtelo de nuevo.",
        "fr": "Cela entre en conflit avec l'état actuel de la ressource ; "
        "rechargez-la et réessayez.",
    },
    "request.too_many": {
        "en": "Too many requests; wait a moment and try again.",
        "es": "Demasiadas solicitudes; espere un momento y vuelva a intentarlo.",
        "fr": "Trop de requêtes ; patientez un instant, puis réessayez.",
    },
    "server.internal_error": {
        "en": "Something went wrong on our side; it has been logged.",
        "es": "Se ha producido un error por nuestra parte; ya ha quedado registrado.",
        "fr": "Une erreur s'est produite de notre côté ; elle a été enregistrée.",
    },
    # --- query checks the routes make themselves ----------------------------------------
    "query.customer_id_required": {
        "en": "query.customer_id: staff must name the customer.",
        "es": "query.customer_id: el personal debe indicar el cliente.",
        "fr": "query.customer_id : le personnel doit indiquer le client.",
    },
    "query.time_zone_required": {
        "en": "query.since/until: give a time zone, e.g. 2026-11-01T00:00:00Z.",
        "es": "query.since/until: indique una zona horaria, p. ej. 2026-11-01T00:00:00Z.",
        "fr": "query.since/until : indiquez un fuseau horaire, par exemple 2026-11-01T00:00:00Z.",
    },
    "query.period_reversed": {
        "en": "query.since: the period must start before it ends.",
        "es": "query.since: el periodo debe empezar antes de terminar.",
        "fr": "query.since : la période doit commencer avant de se terminer.",
    },
    # --- sign-in ------------------------------------------------------------------------
    "auth.sign_in_first": {
        "en": "Sign in first and send the session token as a Bearer token.",
        "es": "Inicie sesión primero y envíe el token de sesión como token Bearer.",
        "fr": "Connectez-vous d'abord et envoyez le jeton de session comme jeton Bearer.",
    },
    "auth.invalid_credentials": {
        "en": "The email or password is not correct.",
        "es": "El correo electrónico o la contraseña no son correctos.",
        "fr": "L'adresse e-mail ou le mot de passe est incorrect.",
    },
    "auth.wrong_current_password": {
        "en": "The current password is not correct.",
        "es": "La contraseña actual no es correcta.",
        "fr": "Le mot de passe actuel est incorrect.",
    },
    "auth.locked": {
        "en": "This account is locked after repeated failures; "
        "try again in {minutes} minutes or ask support to unlock it.",
        "es": "Esta cuenta está bloqueada tras varios intentos fallidos; "
        "vuelva a intentarlo dentro de {minutes} minutos o pida al equipo de soporte "
        "que la desbloquee.",
        "fr": "Ce compte est verrouillé après plusieurs échecs ; "
        "réessayez dans {minutes} minutes ou demandez à l'assistance de le déverrouiller.",
    },
    "auth.locked_try_later": {
        "en": "This account is locked after repeated failures; try again later.",
        "es": "Esta cuenta está bloqueada tras varios intentos fallidos; "
        "vuelva a intentarlo más tarde.",
        "fr": "Ce compte est verrouillé après plusieurs échecs ; réessayez plus tard.",
    },
    "auth.too_many_attempts": {
        "en": "Too many sign-in attempts from your address; try again in {seconds} seconds.",
        "es": "Demasiados intentos de inicio de sesión desde su dirección; "
        "vuelva a intentarlo dentro de {seconds} segundos.",
        "fr": "Trop de tentatives de connexion depuis votre adresse ; "
        "réessayez dans {seconds} secondes.",
    },
    "auth.mfa_step_expired": {
        "en": "This sign-in step has expired; start again with your email and password.",
        "es": "Este paso del inicio de sesión ha caducado; "
        "vuelva a empezar con su correo electrónico y su contraseña.",
        "fr": "Cette étape de connexion a expiré ; "
        "recommencez avec votre adresse e-mail et votre mot de passe.",
    },
    "auth.invalid_mfa_code": {
        "en": "The verification code is not valid; "
        "enter the current code from your authenticator app.",
        "es": "El código de verificación no es válido; "
        "introduzca el código actual de su aplicación de autenticación.",
        "fr": "Le code de vérification n'est pas valide ; "
        "saisissez le code actuel de votre application d'authentification.",
    },
    "auth.step_up_required": {
        "en": "This needs a verification code from the last {minutes:g} minutes; "
        "confirm one at /auth/step-up and retry.",
        "es": "Esto requiere un código de verificación de los últimos {minutes:g} minutos; "
        "confirme uno en /auth/step-up y vuelva a intentarlo.",
        "fr": "Cette action nécessite un code de vérification de moins de {minutes:g} minutes ; "
        "confirmez-en un sur /auth/step-up, puis réessayez.",
    },
    # --- sessions (api.auth.sessions.SessionInvalidError, matched on its English reason) --
    "session.invalid": {
        "en": "Your session is not valid; sign in again.",
        "es": "Su sesión no es válida; vuelva a iniciar sesión.",
        "fr": "Votre session n'est pas valide ; reconnectez-vous.",
    },
    "session.revoked": {
        "en": "Your session was ended; sign in again.",
        "es": "Se ha cerrado su sesión; vuelva a iniciar sesión.",
        "fr": "Votre session a été fermée ; reconnectez-vous.",
    },
    "session.account_disabled": {
        "en": "This account is disabled.",
        "es": "Esta cuenta está desactivada.",
        "fr": "Ce compte est désactivé.",
    },
    "session.time_limit": {
        "en": "Your session has reached its time limit; sign in again.",
        "es": "Su sesión ha alcanzado su duración máxima; vuelva a iniciar sesión.",
        "fr": "Votre session a atteint sa durée maximale ; reconnectez-vous.",
    },
    "session.idle": {
        "en": "Your session ended after a period of inactivity; sign in again.",
        "es": "Su sesión se ha cerrado tras un periodo de inactividad; vuelva a iniciar sesión.",
        "fr": "Votre session a pris fin après une période d'inactivité ; reconnectez-vous.",
    },
    # --- permissions --------------------------------------------------------------------
    "access.staff_only": {
        "en": "This is for staff accounts only.",
        "es": "Esta función solo está disponible para las cuentas del personal.",
        "fr": "Cette fonction est réservée aux comptes du personnel.",
    },
    "access.not_in_account": {
        "en": "There is no such resource in your account.",
        "es": "Este recurso no existe en su cuenta.",
        "fr": "Cette ressource n'existe pas dans votre compte.",
    },
    "access.role_forbidden": {
        "en": "Your role ({role}) may not do this ({permission}).",
        "es": "Su rol ({role}) no permite realizar esta acción ({permission}).",
        "fr": "Votre rôle ({role}) ne permet pas d'effectuer cette action ({permission}).",
    },
    # --- resources that do not exist ----------------------------------------------------
    "not_found.customer": {
        "en": "There is no customer {customer_id}.",
        "es": "No existe el cliente {customer_id}.",
        "fr": "Le client {customer_id} n'existe pas.",
    },
    "not_found.billing_account": {
        "en": "There is no billing account {account_id}.",
        "es": "No existe la cuenta de facturación {account_id}.",
        "fr": "Le compte de facturation {account_id} n'existe pas.",
    },
    "not_found.bill": {
        "en": "There is no bill {bill_id}.",
        "es": "No existe la factura {bill_id}.",
        "fr": "La facture {bill_id} n'existe pas.",
    },
    "not_found.user": {
        "en": "There is no account {user_id}.",
        "es": "No existe la cuenta {user_id}.",
        "fr": "Le compte {user_id} n'existe pas.",
    },
    "not_found.staff_profile": {
        "en": "Staff accounts have no customer profile.",
        "es": "Las cuentas del personal no tienen perfil de cliente.",
        "fr": "Les comptes du personnel n'ont pas de profil client.",
    },
    "not_found.customer_record_pending": {
        "en": "Your customer record is not available yet.",
        "es": "Su ficha de cliente todavía no está disponible.",
        "fr": "Votre dossier client n'est pas encore disponible.",
    },
    # --- accounts an admin creates ------------------------------------------------------
    "account.exists": {
        "en": "An account for {email} already exists.",
        "es": "Ya existe una cuenta para {email}.",
        "fr": "Un compte existe déjà pour {email}.",
    },
    "account.invalid_email": {
        "en": '"{email}" is not an email address.',
        "es": "«{email}» no es una dirección de correo electrónico.",
        "fr": "« {email} » n'est pas une adresse e-mail.",
    },
    "account.customer_id_required": {
        "en": "A customer account needs the CRM customer id it belongs to.",
        "es": "Una cuenta de cliente necesita el identificador CRM del cliente al que pertenece.",
        "fr": "Un compte client doit indiquer l'identifiant CRM du client auquel il appartient.",
    },
    "account.staff_without_customer": {
        "en": "Staff accounts are not linked to a customer.",
        "es": "Las cuentas del personal no se vinculan a ningún cliente.",
        "fr": "Les comptes du personnel ne sont pas rattachés à un client.",
    },
    "account.rejected": {
        "en": "This account cannot be created as requested; check the email, role and customer id.",
        "es": "No se puede crear esta cuenta tal como se ha solicitado; "
        "revise el correo electrónico, el rol y el identificador de cliente.",
        "fr": "Ce compte ne peut pas être créé tel que demandé ; "
        "vérifiez l'adresse e-mail, le rôle et l'identifiant client.",
    },
    # --- new passwords (api.core.passwords.PasswordPolicyError, by its code) -------------
    "password.too_short": {
        "en": "Choose a password of at least {min_length} characters; "
        "a few unrelated words make a long password that is easy to remember.",
        "es": "Elija una contraseña de al menos {min_length} caracteres; "
        "unas cuantas palabras sin relación entre sí forman una contraseña larga "
        "y fácil de recordar.",
        "fr": "Choisissez un mot de passe d'au moins {min_length} caractères ; "
        "quelques mots sans rapport entre eux forment un mot de passe long "
        "et facile à retenir.",
    },
    "password.too_long": {
        "en": "Choose a password of at most {max_length} characters.",
        "es": "Elija una contraseña de {max_length} caracteres como máximo.",
        "fr": "Choisissez un mot de passe de {max_length} caractères au maximum.",
    },
    "password.trivial": {
        "en": "Choose a password that is not a repeated character or a simple sequence "
        "such as 1234 or abcd.",
        "es": "Elija una contraseña que no sea un carácter repetido ni una secuencia sencilla "
        "como 1234 o abcd.",
        "fr": "Choisissez un mot de passe qui ne soit ni un caractère répété ni une suite simple "
        "comme 1234 ou abcd.",
    },
    "password.common": {
        "en": "This password is on a list of commonly used passwords, "
        "so please choose another one.",
        "es": "Esta contraseña figura en una lista de contraseñas muy utilizadas, "
        "así que elija otra, por favor.",
        "fr": "Ce mot de passe figure dans une liste de mots de passe très courants ; "
        "veuillez en choisir un autre.",
    },
    "password.context": {
        "en": 'Choose a password that does not contain "{word}", '
        "because it is easy to guess from your account details.",
        "es": "Elija una contraseña que no contenga «{word}», "
        "porque es fácil de adivinar a partir de los datos de su cuenta.",
        "fr": "Choisissez un mot de passe qui ne contienne pas « {word} », "
        "car il est facile à deviner à partir des informations de votre compte.",
    },
    "password.invalid": {
        "en": "Choose a different password; this one does not follow the password rules.",
        "es": "Elija otra contraseña; esta no cumple las normas de contraseñas.",
        "fr": "Choisissez un autre mot de passe ; celui-ci ne respecte pas les règles.",
    },
    # --- passkeys (api.core.passkeys.PasskeyError, by its reason) ------------------------
    "passkey.staff_use_totp": {
        "en": "Passkeys are for customer accounts; staff use TOTP.",
        "es": "Las llaves de acceso son para cuentas de cliente; el personal usa TOTP.",
        "fr": "Les clés d'accès sont réservées aux comptes clients ; le personnel utilise TOTP.",
    },
    "passkey.registration_expired": {
        "en": "This passkey registration has expired; start again.",
        "es": "El registro de esta llave de acceso ha caducado; vuelva a empezar.",
        "fr": "L'enregistrement de cette clé d'accès a expiré ; recommencez.",
    },
    "passkey.sign_in_expired": {
        "en": "This passkey sign-in has expired; start again.",
        "es": "Este inicio de sesión con llave de acceso ha caducado; vuelva a empezar.",
        "fr": "Cette connexion par clé d'accès a expiré ; recommencez.",
    },
    "passkey.not_registered": {
        "en": "This passkey is not registered with us; sign in with your password.",
        "es": "Esta llave de acceso no está registrada en nuestro sistema; "
        "inicie sesión con su contraseña.",
        "fr": "Cette clé d'accès n'est pas enregistrée chez nous ; "
        "connectez-vous avec votre mot de passe.",
    },
    "passkey.already_registered": {
        "en": "This passkey is already registered.",
        "es": "Esta llave de acceso ya está registrada.",
        "fr": "Cette clé d'accès est déjà enregistrée.",
    },
    "passkey.unidentified": {
        "en": "The passkey response does not say which passkey was used; please try again.",
        "es": "La respuesta no indica qué llave de acceso se ha usado; inténtelo de nuevo.",
        "fr": "La réponse n'indique pas quelle clé d'accès a été utilisée ; veuillez réessayer.",
    },
    "passkey.challenge": {
        "en": "This passkey response does not match the current request, "
        "which may have expired; please start again.",
        "es": "Esta respuesta de la llave de acceso no corresponde a la solicitud actual, "
        "que puede haber caducado; vuelva a empezar.",
        "fr": "Cette réponse de clé d'accès ne correspond pas à la demande en cours, "
        "qui a peut-être expiré ; veuillez recommencer.",
    },
    "passkey.origin": {
        "en": "This passkey response came from a website or app that may not use {rp_name} "
        "passkeys; please use the official {rp_name} website or app.",
        "es": "Esta respuesta procede de un sitio web o una aplicación que quizá no pueda usar "
        "las llaves de acceso de {rp_name}; utilice el sitio web o la aplicación oficial "
        "de {rp_name}.",
        "fr": "Cette réponse provient d'un site ou d'une application qui n'est peut-être pas "
        "autorisé à utiliser les clés d'accès {rp_name} ; utilisez le site ou l'application "
        "officielle de {rp_name}.",
    },
    "passkey.rp_id": {
        "en": "This passkey was made for a different website; "
        "please use a passkey created for {rp_name}.",
        "es": "Esta llave de acceso se creó para otro sitio web; "
        "utilice una llave de acceso creada para {rp_name}.",
        "fr": "Cette clé d'accès a été créée pour un autre site ; "
        "utilisez une clé d'accès créée pour {rp_name}.",
    },
    "passkey.user_verification": {
        "en": "Your device did not confirm it was you; "
        "unlock it with your fingerprint, face or PIN and try again.",
        "es": "Su dispositivo no ha confirmado que sea usted; "
        "desbloquéelo con su huella, su cara o su PIN e inténtelo de nuevo.",
        "fr": "Votre appareil n'a pas confirmé qu'il s'agissait de vous ; "
        "déverrouillez-le avec votre empreinte, votre visage ou votre code PIN, "
        "puis réessayez.",
    },
    "passkey.user_presence": {
        "en": "Your device did not confirm you were there; touch or unlock it and try again.",
        "es": "Su dispositivo no ha confirmado su presencia; "
        "tóquelo o desbloquéelo e inténtelo de nuevo.",
        "fr": "Votre appareil n'a pas confirmé votre présence ; "
        "touchez-le ou déverrouillez-le, puis réessayez.",
    },
    "passkey.sign_count": {
        "en": "This passkey's use counter did not go up, which suggests a copied device, "
        "so it was refused; please sign in another way and contact support.",
        "es": "El contador de uso de esta llave de acceso no ha aumentado, lo que indica "
        "un posible dispositivo copiado, así que se ha rechazado; "
        "inicie sesión de otra forma y contacte con el equipo de soporte.",
        "fr": "Le compteur d'utilisation de cette clé d'accès n'a pas augmenté, ce qui laisse "
        "supposer un appareil copié, elle a donc été refusée ; "
        "connectez-vous autrement et contactez l'assistance.",
    },
    "passkey.signature": {
        "en": "The passkey signature is not valid; "
        "please try again with a passkey registered to this account.",
        "es": "La firma de la llave de acceso no es válida; "
        "inténtelo de nuevo con una llave de acceso registrada en esta cuenta.",
        "fr": "La signature de la clé d'accès n'est pas valide ; "
        "réessayez avec une clé d'accès enregistrée sur ce compte.",
    },
    "passkey.algorithm": {
        "en": "This passkey uses an algorithm {rp_name} does not accept; "
        "please try another device or password manager.",
        "es": "Esta llave de acceso usa un algoritmo que {rp_name} no admite; "
        "pruebe con otro dispositivo u otro gestor de contraseñas.",
        "fr": "Cette clé d'accès utilise un algorithme que {rp_name} n'accepte pas ; "
        "essayez un autre appareil ou un autre gestionnaire de mots de passe.",
    },
    "passkey.ceremony": {
        "en": "This response belongs to a different passkey step; please start again.",
        "es": "Esta respuesta corresponde a otro paso de la llave de acceso; vuelva a empezar.",
        "fr": "Cette réponse correspond à une autre étape de la clé d'accès ; "
        "veuillez recommencer.",
    },
    "passkey.malformed": {
        "en": "The passkey response is incomplete or malformed; please try again.",
        "es": "La respuesta de la llave de acceso está incompleta o mal formada; "
        "inténtelo de nuevo.",
        "fr": "La réponse de la clé d'accès est incomplète ou mal formée ; veuillez réessayer.",
    },
    "passkey.cross_origin": {
        "en": "Passkeys cannot be used from inside another website; "
        "please open the {rp_name} page directly.",
        "es": "Las llaves de acceso no se pueden usar desde dentro de otro sitio web; "
        "abra directamente la página de {rp_name}.",
        "fr": "Les clés d'accès ne peuvent pas être utilisées depuis un autre site ; "
        "ouvrez directement la page {rp_name}.",
    },
    "passkey.invalid": {
        "en": "This passkey was refused; please try again or sign in with your password.",
        "es": "Se ha rechazado esta llave de acceso; "
        "inténtelo de nuevo o inicie sesión con su contraseña.",
        "fr": "Cette clé d'accès a été refusée ; "
        "réessayez ou connectez-vous avec votre mot de passe.",
    },
    # --- readiness ----------------------------------------------------------------------
    "ready.database_unreachable": {
        "en": "The database cannot be reached.",
        "es": "No se puede acceder a la base de datos.",
        "fr": "La base de données est injoignable.",
    },
    "ready.nothing_published": {
        "en": "No customer data has been published yet.",
        "es": "Todavía no se ha publicado ningún dato de clientes.",
        "fr": "Aucune donnée client n'a encore été publiée.",
    },
    "server.busy": {
        "en": "The service is busy; try again in a few seconds.",
        "es": "El servicio está ocupado; vuelva a intentarlo en unos segundos.",
        "fr": "Le service est surchargé ; réessayez dans quelques secondes.",
    },
    "server.database_unavailable": {
        "en": "The connection to the database was lost; try again in a moment.",
        "es": "Se perdió la conexión con la base de datos; vuelva a intentarlo en un momento.",
        "fr": "La connexion à la base de données a été perdue ; réessayez dans un instant.",
    },
    "serving.nothing_published": {
        "en": "No customer data has been published yet; run the nightly pipeline first.",
        "es": "Todavía no se ha publicado ningún dato de clientes; "
        "ejecute primero el pipeline nocturno.",
        "fr": "Aucune donnée client n'a encore été publiée ; lancez d'abord le pipeline nocturne.",
    },
}
