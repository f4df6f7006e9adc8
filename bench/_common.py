"""Shared by the store benchmarks (gen_store.py, bench_store.py): where
cached stores live, and the word lists of the generated data.

Five languages, a few hundred words each, most frequent first (the
generator draws them with Zipf-like weights), plus ``COMMON``: ten words that
show up in every language, so that a search for one of them matches most of
the store (the case SPEC §8's search budget is about).
"""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"  # git-ignored



def _words(text: str) -> list[str]:
    return text.split()


COMMON = ("ok", "email", "info", "support", "service", "online", "app", "web", "team", "link")

_EN = _words("""
the to and a i of is it you my for on in that this have with not was be please
can are but we me your order at from as do if would an there so no what get has
will been could they just when any all our now one about which did still help know
need like also back only had time get thank thanks again here see then some them
very should received today yesterday week days problem issue question account
password login reset delivery parcel package shipping tracking number refund
invoice payment card charged twice subscription cancel upgrade price discount
code coupon product item broken damaged missing wrong size colour replacement
return label courier address change update confirm confirmation sent send
email phone call number message reply waiting still urgent asap soon weekend
monday tuesday wednesday thursday friday saturday sunday morning afternoon
evening warranty repair screen battery charger cable box manual instructions
setup install error crash slow works working stopped unable cannot cant unfortunately
however because since after before until while during already yet never
always sometimes customer store shop website checkout cart basket bank transfer
paypal receipt bill amount total euro dollars pounds month year annual monthly
plan free trial premium basic business company office home work family friend
gift present birthday christmas holiday travel booking reservation ticket seat
flight hotel room table dinner menu allergy vegan delivery driver door doorstep
neighbour collect pickup point locker store branch opening hours closed open
manager supervisor complaint feedback review stars rating survey newsletter
unsubscribe spam privacy data delete gdpr download upload attachment photo picture
screenshot file document pdf form signature contract terms conditions policy
fee fees shipping costs tax vat import customs duty delay delayed late early
expected estimate date deadline appointment schedule reschedule availability
stock available sold out restock preorder backorder model version serial
""")

_IT = _words("""
il la di che e a un una per non in è mi ho sono con ma si ci come del della
grazie buongiorno salve gentile cordiali saluti ordine pacco spedizione consegna
corriere rimborso fattura pagamento carta addebito abbonamento annullare disdetta
prezzo sconto codice coupon prodotto articolo rotto danneggiato mancante sbagliato
taglia colore sostituzione reso etichetta indirizzo modifica conferma inviato
inviare telefono chiamata numero messaggio risposta attesa ancora urgente presto
lunedì martedì mercoledì giovedì venerdì sabato domenica mattina pomeriggio sera
garanzia riparazione schermo batteria caricatore cavo scatola manuale istruzioni
installazione errore lento funziona funzionare smesso impossibile purtroppo
tuttavia perché dopo prima fino mentre durante già mai sempre volte cliente
negozio sito carrello bonifico banca ricevuta importo totale euro mese anno
piano gratuito prova azienda ufficio casa lavoro famiglia regalo compleanno natale
vacanza viaggio prenotazione biglietto posto volo albergo camera tavolo cena
allergia autista porta vicino ritiro punto armadietto filiale orari chiuso aperto
responsabile reclamo recensione stelle valutazione sondaggio iscrizione privacy
dati cancellare scaricare caricare allegato foto immagine documento modulo firma
contratto termini condizioni spese tasse iva dogana ritardo tardi presto previsto
data scadenza appuntamento disponibilità magazzino esaurito modello versione
ricevuto oggi ieri settimana giorni problema questione account password accesso
tracciamento accredito doppio ricevere aspetto vorrei potete potreste sapere
aiuto scusate avete ricevuto fatto detto visto chiesto scritto richiesta pratica
""")

_DE = _words("""
der die das und ich ist nicht zu ein eine es mit den auf für sie wir von im
haben habe bitte danke vielen gruß grüße freundlichen hallo guten tag sehr
geehrte damen herren bestellung paket versand lieferung zusteller rückerstattung
rechnung zahlung karte abbuchung abonnement kündigen kündigung preis rabatt
gutschein produkt artikel kaputt beschädigt fehlt falsch größe farbe ersatz
rücksendung etikett adresse änderung bestätigung geschickt senden telefon anruf
nummer nachricht antwort warte immer noch dringend bald montag dienstag mittwoch
donnerstag freitag samstag sonntag morgen nachmittag abend garantie reparatur
bildschirm akku ladegerät kabel karton anleitung installation fehler langsam
funktioniert nicht mehr leider jedoch weil seit nach vor bis während schon nie
immer manchmal kunde geschäft webseite warenkorb überweisung bank beleg betrag
gesamt euro monat jahr tarif kostenlos test firma büro hause arbeit familie
geschenk geburtstag weihnachten urlaub reise buchung reservierung flug hotel
zimmer tisch abendessen allergie fahrer tür nachbar abholung packstation filiale
öffnungszeiten geschlossen geöffnet vorgesetzter beschwerde bewertung sterne
umfrage datenschutz daten löschen herunterladen hochladen anhang foto bild
dokument formular unterschrift vertrag bedingungen gebühren steuer mehrwertsteuer
zoll verzögerung verspätet erwartet datum frist termin verfügbar lager ausverkauft
modell seriennummer erhalten heute gestern woche tage problem frage konto passwort
anmeldung sendungsverfolgung doppelt abgebucht möchte können könnten wissen hilfe
entschuldigung gemacht gesagt gesehen gefragt geschrieben anfrage vorgang
""")

_FR = _words("""
le la les de des du et je est pas un une il elle nous vous que qui ne pour dans
sur avec au aux ce cette mon ma mes votre vos merci bonjour madame monsieur
cordialement salutations commande colis expédition livraison livreur remboursement
facture paiement carte prélèvement abonnement annuler résiliation prix remise
code promo produit article cassé endommagé manquant erreur taille couleur
remplacement retour étiquette adresse modification confirmation envoyé envoyer
téléphone appel numéro réponse attente toujours urgent bientôt lundi mardi
mercredi jeudi vendredi samedi dimanche matin après-midi soir garantie réparation
écran batterie chargeur câble boîte notice installation lent fonctionne marche
plus malheureusement cependant parce depuis après avant jusqu pendant déjà jamais
parfois client magasin site panier virement banque reçu montant total euros mois
année forfait gratuit essai entreprise bureau maison travail famille cadeau
anniversaire noël vacances voyage réservation billet vol hôtel chambre table
dîner allergie chauffeur porte voisin retrait point relais agence horaires fermé
ouvert responsable réclamation avis étoiles note enquête désinscription données
supprimer télécharger pièce jointe photo image document formulaire signature
contrat conditions frais taxe tva douane retard prévu date délai rendez-vous
disponible stock épuisé modèle version reçu aujourd hier semaine jours problème
question compte mot passe connexion suivi débité deux fois voudrais pouvez
pourriez savoir aide désolé fait dit vu demandé écrit demande dossier
""")

_ES = _words("""
el la los las de del y que en un una es no por con para se me mi su al lo
gracias hola buenos días estimado estimada saludos atentamente pedido paquete
envío entrega repartidor reembolso factura pago tarjeta cargo suscripción
cancelar baja precio descuento código cupón producto artículo roto dañado falta
equivocado talla color sustitución devolución etiqueta dirección cambio
confirmación enviado enviar teléfono llamada número mensaje respuesta espera
todavía urgente pronto lunes martes miércoles jueves viernes sábado domingo
mañana tarde noche garantía reparación pantalla batería cargador cable caja
manual instrucciones instalación error lento funciona dejó imposible
lamentablemente sin embargo porque desde después antes hasta mientras durante
ya nunca siempre veces cliente tienda web carrito transferencia banco recibo
importe total euros mes año plan gratis prueba empresa oficina casa trabajo
familia regalo cumpleaños navidad vacaciones viaje reserva billete vuelo hotel
habitación mesa cena alergia conductor puerta vecino recogida punto taquilla
sucursal horario cerrado abierto responsable reclamación opinión estrellas
valoración encuesta privacidad datos borrar descargar subir adjunto foto imagen
documento formulario firma contrato términos condiciones gastos impuestos iva
aduana retraso tarde previsto fecha plazo cita disponible almacén agotado modelo
versión recibido hoy ayer semana días problema pregunta cuenta contraseña acceso
seguimiento cobrado dos veces quisiera pueden podrían saber ayuda disculpen
hecho dicho visto pedido escrito solicitud trámite
""")

WORDS: dict[str, list[str]] = {"en": _EN, "it": _IT, "de": _DE, "fr": _FR, "es": _ES}

GREETING = {
    "en": ("Hello", "Hi", "Dear support", "Good morning", "Hi there"),
    "it": ("Buongiorno", "Salve", "Gentile assistenza", "Ciao", "Buonasera"),
    "de": ("Hallo", "Guten Tag", "Sehr geehrte Damen und Herren", "Moin", "Liebes Team"),
    "fr": ("Bonjour", "Madame, Monsieur", "Bonsoir", "Salut", "Chère équipe"),
    "es": ("Hola", "Buenos días", "Estimado equipo", "Buenas tardes", "Saludos"),
}
SIGNOFF = {
    "en": ("Thanks", "Best regards", "Kind regards", "Cheers", "Thank you"),
    "it": ("Grazie", "Cordiali saluti", "Saluti", "Grazie mille", "A presto"),
    "de": ("Danke", "Viele Grüße", "Mit freundlichen Grüßen", "Beste Grüße", "Danke schön"),
    "fr": ("Merci", "Cordialement", "Bien à vous", "Merci beaucoup", "Bonne journée"),
    "es": ("Gracias", "Saludos", "Un saludo", "Muchas gracias", "Atentamente"),
}
FIRST = {
    "en": ("James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
           "Emily", "Oliver", "Sophie", "Harry", "Grace", "Jack", "Chloe", "George", "Amelia"),
    "it": ("Giulia", "Marco", "Francesca", "Luca", "Chiara", "Matteo", "Sara", "Andrea", "Elena",
           "Alessandro", "Martina", "Davide", "Valentina", "Lorenzo", "Federica", "Giorgio"),
    "de": ("Anna", "Lukas", "Lena", "Jonas", "Sophie", "Felix", "Marie", "Maximilian", "Jürgen",
           "Katrin", "Stefan", "Sabine", "Björn", "Ute", "Tobias", "Jana", "Sven", "Heike"),
    "fr": ("Camille", "Louis", "Chloé", "Hugo", "Léa", "Gabriel", "Manon", "Jules", "Inès",
           "Arthur", "Élodie", "Théo", "Céline", "Nicolas", "Amélie", "François"),
    "es": ("Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Pablo", "Carmen", "Javier", "Elena",
           "Alejandro", "Paula", "Diego", "Marta", "Álvaro", "Nuria", "Sergio"),
}
LAST = {
    "en": ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
           "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green"),
    "it": ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
           "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa"),
    "de": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
           "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf"),
    "fr": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
           "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Fournier"),
    "es": ("García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez",
           "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz"),
}
SUBJECTS = {
    "en": ("Where is my order", "Refund request", "Cannot log in", "Question about my invoice",
           "Damaged parcel", "Change of address", "Wrong size delivered", "Cancel my subscription",
           "Charged twice", "Item missing from parcel", "Warranty repair", "Tracking number not working",
           "Password reset email never arrives", "Delivery delayed", "Return label please"),
    "it": ("Dov'è il mio ordine", "Richiesta di rimborso", "Non riesco ad accedere",
           "Domanda sulla fattura", "Pacco danneggiato", "Cambio indirizzo", "Taglia sbagliata",
           "Disdetta abbonamento", "Addebito doppio", "Articolo mancante", "Riparazione in garanzia"),
    "de": ("Wo ist meine Bestellung", "Rückerstattung", "Kann mich nicht anmelden",
           "Frage zur Rechnung", "Paket beschädigt", "Adressänderung", "Falsche Größe geliefert",
           "Abo kündigen", "Doppelt abgebucht", "Artikel fehlt", "Garantiereparatur"),
    "fr": ("Où est ma commande", "Demande de remboursement", "Impossible de me connecter",
           "Question sur ma facture", "Colis endommagé", "Changement d'adresse",
           "Mauvaise taille", "Résiliation abonnement", "Débité deux fois", "Article manquant"),
    "es": ("Dónde está mi pedido", "Solicitud de reembolso", "No puedo acceder",
           "Pregunta sobre la factura", "Paquete dañado", "Cambio de dirección",
           "Talla equivocada", "Cancelar suscripción", "Cobrado dos veces", "Falta un artículo"),
}
REPLY_PREFIX = {"en": "Re: ", "it": "R: ", "de": "AW: ", "fr": "RE: ", "es": "RE: "}
PHONE_PREFIX = {"en": "+44", "it": "+39", "de": "+49", "fr": "+33", "es": "+34"}
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "gmx.de", "web.de", "libero.it", "orange.fr",
           "free.fr", "hotmail.es", "icloud.com", "proton.me", "example.org")
INSTANCES = ("mastodon.social", "fosstodon.org", "mastodon.online", "chaos.social", "mstdn.it")
